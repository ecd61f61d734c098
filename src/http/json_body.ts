/**
 * Reads a JSON request body within a size limit: 415 for another media type,
 * 413 past the limit (declared by Content-Length or counted on a chunked
 * stream, which is cancelled at the limit), 400 for malformed JSON.
 *
 * @module
 */
import { type Problem, problem } from "./problem.ts";

/** The parsed body, or the problem to answer with. */
export type JsonBody = { ok: true; body: unknown } | { ok: false; problem: Problem };

const decoder = new TextDecoder();

function isJson(contentType: string | null): boolean {
  const type = contentType?.split(";")[0].trim().toLowerCase();
  return type === "application/json" || (type?.endsWith("+json") ?? false);
}

async function readText(request: Request, limit: number): Promise<string | undefined> {
  const declared = request.headers.get("content-length");
  if (declared !== null) {
    // The server holds a declared body to its length, so it can be read whole.
    return Number(declared) > limit ? undefined : await request.text();
  }
  if (!request.body) return "";
  const chunks: Uint8Array[] = [];
  let size = 0;
  const reader = request.body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > limit) {
      await reader.cancel();
      return undefined;
    }
    chunks.push(value);
  }
  const whole = new Uint8Array(size);
  let at = 0;
  for (const chunk of chunks) {
    whole.set(chunk, at);
    at += chunk.byteLength;
  }
  return decoder.decode(whole);
}

/** Reads and parses the JSON body of `request`, at most `limit` bytes. */
export async function readJsonBody(request: Request, limit: number): Promise<JsonBody> {
  if (!isJson(request.headers.get("content-type"))) {
    return {
      ok: false,
      problem: problem("unsupported-media-type", "Send the body as application/json"),
    };
  }
  const text = await readText(request, limit);
  if (text === undefined) {
    return {
      ok: false,
      problem: problem("body-too-large", `The body must be at most ${limit} bytes`),
    };
  }
  try {
    return { ok: true, body: JSON.parse(text) };
  } catch (error) {
    const detail = error instanceof SyntaxError ? error.message : "The body is not JSON";
    return { ok: false, problem: problem("malformed-json", detail) };
  }
}

/**
 * Reads a JSON request body within a size limit: 415 for another media type,
 * 413 past the limit (declared by Content-Length or counted on a chunked
 * stream, which is cancelled at the limit), 400 for malformed JSON and for
 * anything that is not I-JSON (RFC 7493): another charset than UTF-8, bytes
 * that are not UTF-8, duplicate member names, lone surrogates. Nothing is
 * replaced or dropped on the way.
 *
 * @module
 */
import { iJsonViolation } from "./i_json.ts";
import { type Problem, problem } from "./problem.ts";

/** The parsed body and its media type, or the problem to answer with. */
export type JsonBody = { ok: true; body: unknown; mediaType: string } | {
  ok: false;
  problem: Problem;
};

const decoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/** The media type (lower case, no parameters) and the `charset` parameter, if any. */
function parseContentType(contentType: string | null): { type: string; charset?: string } {
  const [type, ...params] = (contentType ?? "").split(";").map((p) => p.trim());
  const charset = params.map((p) => p.split("=")).find(([k]) => k.toLowerCase() === "charset")?.[1];
  return { type: type.toLowerCase(), charset: charset?.replaceAll('"', "").toLowerCase() };
}

function isJson(type: string): boolean {
  return type === "application/json" || type.endsWith("+json");
}

async function readBytes(request: Request, limit: number): Promise<Uint8Array | undefined> {
  const declared = request.headers.get("content-length");
  if (declared !== null) {
    // The server holds a declared body to its length, so it can be read whole.
    return Number(declared) > limit ? undefined : await request.bytes();
  }
  if (!request.body) return new Uint8Array();
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
  return whole;
}

const notIJson = (detail: string, pointer?: string): JsonBody => ({
  ok: false,
  problem: problem("not-i-json", detail, pointer === undefined ? undefined : [{ pointer, detail }]),
});

/** Reads and parses the JSON body of `request`, at most `limit` bytes. */
export async function readJsonBody(request: Request, limit: number): Promise<JsonBody> {
  const { type, charset } = parseContentType(request.headers.get("content-type"));
  if (!isJson(type)) {
    return {
      ok: false,
      problem: problem("unsupported-media-type", "Send the body as application/json"),
    };
  }
  if (charset !== undefined && charset !== "utf-8" && charset !== "utf8") {
    return notIJson(`The body must be UTF-8; charset=${charset} is not accepted`);
  }
  const bytes = await readBytes(request, limit);
  if (bytes === undefined) {
    return {
      ok: false,
      problem: problem("body-too-large", `The body must be at most ${limit} bytes`),
    };
  }
  let text: string;
  try {
    text = decoder.decode(bytes);
  } catch {
    return notIJson("The body is not valid UTF-8");
  }
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch (error) {
    const detail = error instanceof SyntaxError ? error.message : "The body is not JSON";
    return { ok: false, problem: problem("malformed-json", detail) };
  }
  const violation = iJsonViolation(text, body);
  if (violation) return notIJson(`The body is not I-JSON: ${violation.detail}`, violation.pointer);
  return { ok: true, body, mediaType: type };
}

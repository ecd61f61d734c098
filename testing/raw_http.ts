/**
 * A bare HTTP/1.1 request over TCP, for what `fetch` and `WebSocket` will not
 * send or show: an `Origin` on a WebSocket upgrade, the status a gateway
 * answers instead of upgrading.
 *
 * @module
 */

/** The status line and headers of a response. */
export interface RawResponse {
  /** The status code. */
  status: number;
  /** Header names in lower case. */
  headers: Headers;
}

/** A WebSocket upgrade request's headers (with a fixed key: the answer is not checked). */
export const WEBSOCKET_UPGRADE: Readonly<Record<string, string>> = {
  upgrade: "websocket",
  connection: "Upgrade",
  "sec-websocket-version": "13",
  "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ==",
};

/** Sends `GET path` with `headers` to the gateway at `url` and reads the response head. */
export async function rawGet(
  url: string,
  path: string,
  headers: Record<string, string> = {},
): Promise<RawResponse> {
  const { hostname, port } = new URL(url);
  const conn = await Deno.connect({ hostname, port: Number(port) });
  try {
    const lines = [`GET ${path} HTTP/1.1`, `host: ${hostname}:${port}`];
    for (const [name, value] of Object.entries(headers)) lines.push(`${name}: ${value}`);
    await conn.write(new TextEncoder().encode(lines.join("\r\n") + "\r\n\r\n"));
    let head = "";
    const buffer = new Uint8Array(4096);
    while (!head.includes("\r\n\r\n")) {
      const n = await conn.read(buffer);
      if (n === null) break;
      head += new TextDecoder().decode(buffer.subarray(0, n));
    }
    const [statusLine, ...fields] = head.split("\r\n\r\n")[0].split("\r\n");
    const parsed = new Headers();
    for (const field of fields) {
      const at = field.indexOf(":");
      if (at > 0) parsed.append(field.slice(0, at).trim(), field.slice(at + 1).trim());
    }
    return { status: Number(statusLine.split(" ")[1]), headers: parsed };
  } finally {
    conn.close();
  }
}

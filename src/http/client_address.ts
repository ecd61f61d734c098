/**
 * The address a request came from: the peer of its TCP connection. Proxy
 * headers such as `X-Forwarded-For` are not trusted: any client can set them.
 *
 * @module
 */
import type { Context } from "hono";

/** The address when the connection's peer is not known (requests made in tests). */
export const UNKNOWN_ADDRESS = "unknown";

/** The IP address of the peer of `c`'s connection (Deno.serve's `remoteAddr`). */
export function clientAddress(c: Context): string {
  const info = c.env as Partial<Deno.ServeHandlerInfo<Deno.NetAddr>> | undefined;
  return info?.remoteAddr?.hostname ?? UNKNOWN_ADDRESS;
}

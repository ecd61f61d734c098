/**
 * Headers on every response: `X-Content-Type-Options: nosniff` so a browser
 * never reads a JSON body as a script or a page, `Cache-Control: no-store`
 * unless the route chose otherwise (events and problems are never cached),
 * and a Content-Security-Policy on the docs page, which runs no script.
 *
 * @module
 */
import type { MiddlewareHandler } from "hono";

/** The path of the HTML docs page. */
export const DOCS_PATH = "/docs";
/**
 * The docs page's policy: nothing may load or run but its own inline style;
 * no form posts, no framing.
 */
export const DOCS_CONTENT_SECURITY_POLICY =
  "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'; " +
  "frame-ancestors 'none'";

/** The status of a WebSocket upgrade, whose response Deno sends as it built it. */
const SWITCHING_PROTOCOLS = 101;

/** The middleware that adds the security headers. */
export function securityHeaders(): MiddlewareHandler {
  return async (c, next) => {
    await next();
    if (c.res.status === SWITCHING_PROTOCOLS) return;
    const headers = c.res.headers;
    headers.set("x-content-type-options", "nosniff");
    if (!headers.has("cache-control")) headers.set("cache-control", "no-store");
    if (c.req.path === DOCS_PATH) {
      headers.set("content-security-policy", DOCS_CONTENT_SECURITY_POLICY);
    }
  };
}

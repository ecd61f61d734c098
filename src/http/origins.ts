/**
 * Browser origins: which pages may open subscriptions and call the API.
 * A request without `Origin` is not from a browser page and is allowed; a
 * page served by the gateway itself (same origin) always is; any other origin
 * must be listed in `http.allowed_origins`. The same list drives CORS, which
 * echoes the caller's listed origin (never `*`, and no credentials: the API
 * authenticates with `Authorization`, not cookies).
 *
 * @module
 */
import type { MiddlewareHandler } from "hono";
import { cors } from "hono/cors";

/** Request headers a listed origin's pages may send. */
export const CORS_ALLOWED_HEADERS: readonly string[] = [
  "authorization",
  "content-type",
  "idempotency-key",
  "last-event-id",
  "traceparent",
  "tracestate",
];
/** Response headers a listed origin's pages may read, beyond the CORS-safelisted ones. */
export const CORS_EXPOSED_HEADERS: readonly string[] = [
  "retry-after",
  "ratelimit",
  "ratelimit-policy",
  "www-authenticate",
];
/** How long a browser may cache a preflight answer, in seconds. */
export const CORS_MAX_AGE_SECONDS = 600;

/** The browser origins allowed besides the gateway's own. */
export class AllowedOrigins {
  readonly #listed: ReadonlySet<string>;

  /** Origins as `scheme://host[:port]`, exactly as browsers send `Origin`. */
  constructor(origins: readonly string[]) {
    this.#listed = new Set(origins);
  }

  /**
   * Whether a request from `origin` (its `Origin` header) to `url` may go on:
   * no `Origin`, the gateway's own origin, or a listed one.
   */
  allows(origin: string | undefined, url: string): boolean {
    return origin === undefined || this.#listed.has(origin) || new URL(url).origin === origin;
  }

  /**
   * The CORS middleware: listed origins get `Access-Control-Allow-Origin`
   * with their own origin. A request without `Origin` (not from a browser
   * page: tablets, beacon gateways, services) skips it: CORS headers mean
   * nothing to such a client, and setting them before the handler runs made
   * Hono copy every response's headers (17 µs of CPU per publish, a seventh
   * of the whole). Every response is `Cache-Control: no-store`, so no cache
   * can hand an answer without CORS headers to a browser.
   */
  cors(): MiddlewareHandler {
    const withCors = cors({
      origin: (origin) => this.#listed.has(origin) ? origin : null,
      allowMethods: ["GET", "POST", "OPTIONS"],
      allowHeaders: [...CORS_ALLOWED_HEADERS],
      exposeHeaders: [...CORS_EXPOSED_HEADERS],
      maxAge: CORS_MAX_AGE_SECONDS,
    });
    return (c, next) => c.req.raw.headers.has("origin") ? withCors(c, next) : next();
  }
}

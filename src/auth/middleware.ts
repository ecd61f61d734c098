/**
 * The authentication middleware: puts the caller's {@linkcode Principal} on
 * every request's context under {@linkcode PRINCIPAL_VARIABLE}. With
 * `auth.mode: none` that is the anonymous principal with every scope. With
 * `required`, a request without a credential gets `401` unless its route is
 * public (health and documents), and a bad credential gets `401` anywhere;
 * routes then check permissions against the principal.
 *
 * @module
 */
import type { Context, MiddlewareHandler } from "hono";
import type { Config } from "../config.ts";
import { clientAddress } from "../http/client_address.ts";
import { ANONYMOUS, UNAUTHENTICATED } from "./anonymous.ts";
import type { Authenticator } from "./authenticator.ts";
import { presentedToken } from "./credentials.ts";
import { AuthenticationError } from "./errors.ts";
import type { FailureThrottle } from "./failure_throttle.ts";
import { type Principal, PRINCIPAL_VARIABLE } from "./principal.ts";
import type { Refusals, RequestOrigin } from "./refusals.ts";

/** Routes that need no credential: probes and the API documents. */
export const PUBLIC_PATHS: ReadonlySet<string> = new Set([
  "/",
  "/healthz",
  "/readyz",
  "/docs",
  "/openapi.json",
  "/asyncapi.json",
]);

/** Routes that accept the token as the `access_token` query parameter: Server-Sent Events. */
export const QUERY_TOKEN_PATHS: ReadonlySet<string> = new Set(["/v1/stream"]);

/** Options of {@linkcode authentication}. */
export interface AuthenticationOptions {
  /** `none`: everyone is the anonymous principal; `required`: credentials are checked. */
  mode: Config["auth"]["mode"];
  /** Verifies tokens. */
  authenticator: Authenticator;
  /** Slows down addresses that fail too often. */
  throttle: FailureThrottle;
  /** Answers, logs and counts refusals. */
  refusals: Refusals;
}

/** The middleware that authenticates every request. */
export function authentication(options: AuthenticationOptions): MiddlewareHandler {
  const { mode, authenticator, throttle, refusals } = options;
  return async (c, next) => {
    if (mode === "none") {
      c.set(PRINCIPAL_VARIABLE, ANONYMOUS);
      return await next();
    }
    const origin = requestOrigin(c);
    let principal: Principal;
    try {
      const query = QUERY_TOKEN_PATHS.has(c.req.path) ? new URL(c.req.url).searchParams : undefined;
      const token = presentedToken(c.req.raw, query);
      if (token === undefined) {
        if (!PUBLIC_PATHS.has(c.req.path)) {
          return refusals.unauthenticated(
            new AuthenticationError("missing", "This route needs a bearer token"),
            origin,
          );
        }
        principal = UNAUTHENTICATED;
      } else {
        const waitMs = throttle.waitMs(origin.address);
        if (waitMs > 0) return refusals.throttled(waitMs, origin);
        principal = await authenticator.authenticate(token);
      }
    } catch (error) {
      if (!(error instanceof AuthenticationError)) throw error;
      if (!error.retriable) throttle.failed(origin.address);
      return refusals.unauthenticated(error, origin);
    }
    c.set(PRINCIPAL_VARIABLE, principal);
    await next();
  };
}

/**
 * The principal of the request.
 *
 * @throws {Error} when the authentication middleware did not run: a route
 * must never act for nobody in particular.
 */
export function principalOf(c: Context): Principal {
  const principal = c.get(PRINCIPAL_VARIABLE) as Principal | undefined;
  if (!principal) throw new Error("No principal: the authentication middleware did not run");
  return principal;
}

/** Where `c` came from, for refusal logs: never its query, which may hold a token. */
export function requestOrigin(c: Context): RequestOrigin {
  return { address: clientAddress(c), method: c.req.method, path: c.req.path };
}

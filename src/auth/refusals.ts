/**
 * How the gateway refuses a caller: the problem+json answer (`401` with
 * `WWW-Authenticate`, `403` naming what was missing, `429` when an address is
 * slowed down, `503` when an issuer's keys cannot be fetched), one `info` log
 * line with the principal's id (never its token), and a count in
 * `tastesync_auth_failures_total{reason}`.
 *
 * @module
 */
import { type Problem, problem, problemResponse } from "../http/problem.ts";
import type { Logger } from "../telemetry/logger.ts";
import type { Metrics } from "../telemetry/metrics.ts";
import type { AuthenticationError, AuthFailureReason } from "./errors.ts";
import type { Refusal } from "./permissions.ts";
import type { Principal } from "./principal.ts";

/** The realm of every `WWW-Authenticate` challenge. */
export const REALM = "tastesync";
/** The challenge of a `401` (RFC 6750 section 3). */
export const INVALID_TOKEN_CHALLENGE = `Bearer realm="${REALM}", error="invalid_token"`;
/** Seconds a client should wait when an issuer's keys could not be fetched. */
export const AUTH_UNAVAILABLE_RETRY_AFTER_SECONDS = 1;

/** Where a refused request came from, for the log line. */
export interface RequestOrigin {
  /** The client's IP address. */
  address: string;
  /** The HTTP method. */
  method: string;
  /** The path, without the query (which may hold a token). */
  path: string;
}

/** Answers, logs and counts refusals. */
export class Refusals {
  readonly #logger: Logger;
  readonly #metrics: Pick<Metrics, "authFailures">;

  /** Refusals logged to `logger` and counted in `metrics`. */
  constructor(logger: Logger, metrics: Pick<Metrics, "authFailures">) {
    this.#logger = logger;
    this.#metrics = metrics;
  }

  /** A credential that did not authenticate: `401`, or `503` when the keys were unavailable. */
  unauthenticated(error: AuthenticationError, origin: RequestOrigin): Response {
    this.note(error.reason, origin);
    if (error.retriable) {
      return problemResponse(problem("auth-unavailable", error.message), {
        "retry-after": String(AUTH_UNAVAILABLE_RETRY_AFTER_SECONDS),
      });
    }
    return problemResponse(problem("unauthorized", error.message), {
      "www-authenticate": INVALID_TOKEN_CHALLENGE,
    });
  }

  /** An address that failed too often: `429` with `Retry-After`, the credential unchecked. */
  throttled(waitMs: number, origin: RequestOrigin): Response {
    this.note("throttled", origin);
    const seconds = Math.max(1, Math.ceil(waitMs / 1000));
    return problemResponse(
      problem(
        "auth-throttled",
        `Too many failed authentications from this address; retry in ${seconds} s`,
      ),
      { "retry-after": String(seconds) },
    );
  }

  /** A principal without the permission: `403` naming what was missing. */
  forbidden(principal: Principal, refusal: Refusal, origin: RequestOrigin): Response {
    return problemResponse(this.forbiddenProblem(principal, refusal, origin), {
      "www-authenticate": `Bearer realm="${REALM}", error="insufficient_scope"${
        refusal.scope ? `, scope="${refusal.scope}"` : ""
      }`,
    });
  }

  /** The `403` problem of a refusal that is not a whole response (a batch item), logged and counted. */
  forbiddenProblem(principal: Principal, refusal: Refusal, origin: RequestOrigin): Problem {
    this.note(refusal.reason, origin, principal);
    return problem("forbidden", refusal.detail);
  }

  /** Logs and counts a refusal (answered here, or some other way: a WebSocket close). */
  note(reason: AuthFailureReason, origin: RequestOrigin, principal?: Principal): void {
    this.#metrics.authFailures.inc({ reason });
    this.#logger.log("info", "Request refused", {
      reason,
      ...(principal ? { principal: principal.id, principal_kind: principal.kind } : {}),
      address: origin.address,
      method: origin.method,
      path: origin.path,
    });
  }
}

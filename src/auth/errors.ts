/**
 * Why a credential was refused, and the error that carries it.
 *
 * @module
 */

/**
 * Why authentication or authorization failed: the `reason` label of
 * `tastesync_auth_failures_total` and of the refusal's log line. A fixed set,
 * so the metric's cardinality stays bounded.
 */
export type AuthFailureReason =
  /** No credential on a route that needs one. */
  | "missing"
  /** Not a bearer token, two credentials at once, or not a JWT or an API key. */
  | "malformed"
  /** An API key that no configured entry hashes to. */
  | "unknown_key"
  /** A JWT past its `exp` (and the allowed clock skew). */
  | "expired"
  /** A JWT before its `nbf` (less the allowed clock skew). */
  | "not_yet_valid"
  /** A JWT whose `iss` is not a trusted issuer. */
  | "issuer"
  /** A JWT whose `aud` does not name the gateway. */
  | "audience"
  /** A JWT signed with an algorithm outside the allowlist (`none`, HS*, ...). */
  | "algorithm"
  /** A JWT whose `kid` its issuer's keys do not hold. */
  | "unknown_kid"
  /** A JWT whose signature does not verify. */
  | "signature"
  /** A JWT without `exp` or `sub`, or with a malformed `scope` or `venues`. */
  | "claims"
  /** The issuer's keys could not be fetched. */
  | "jwks_unavailable"
  /** Too many failures from the client's address: not checked. */
  | "throttled"
  /** Authenticated, but without the scope the request needs. */
  | "scope"
  /** Authenticated, but pinned to other venues. */
  | "venue";

/** A credential that does not authenticate. */
export class AuthenticationError extends Error {
  /** Why, as a bounded label. */
  readonly reason: AuthFailureReason;
  /**
   * The same credential may succeed later: the issuer's keys were
   * unavailable, not wrong.
   */
  readonly retriable: boolean;
  /** A credential refused for `reason`; `message` is safe to show the client. */
  constructor(reason: AuthFailureReason, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "AuthenticationError";
    this.reason = reason;
    this.retriable = reason === "jwks_unavailable";
  }
}

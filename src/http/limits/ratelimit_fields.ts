/**
 * The `RateLimit-Policy` and `RateLimit` header fields of the IETF httpapi
 * draft "RateLimit header fields for HTTP" (draft-ietf-httpapi-ratelimit-headers),
 * as Structured Field items: `"name";q=<quota>;w=<window>` and
 * `"name";r=<remaining>;t=<reset>`.
 *
 * @module
 */

/** A quota policy: `quota` units per `windowSeconds`. */
export interface QuotaPolicy {
  /** The policy's name (a Structured Field string). */
  name: string;
  /** Quota units the policy allocates (a token bucket's burst). */
  quota: number;
  /** The window in whole seconds (the time a token bucket takes to refill). */
  windowSeconds: number;
}

/** Whole seconds from ms, at least `min`, as `delay-seconds` wants them. */
export function wholeSeconds(ms: number, min = 0): number {
  return Math.max(min, Math.ceil(ms / 1000));
}

/** The `RateLimit-Policy` value of `policy`, e.g. `"publish";q=200;w=2`. */
export function rateLimitPolicyField(policy: QuotaPolicy): string {
  return `${JSON.stringify(policy.name)};q=${policy.quota};w=${policy.windowSeconds}`;
}

/** The `RateLimit` value of `policy` with `remaining` units and `resetSeconds`, e.g. `"publish";r=0;t=1`. */
export function rateLimitField(
  policy: QuotaPolicy,
  remaining: number,
  resetSeconds: number,
): string {
  return `${JSON.stringify(policy.name)};r=${remaining};t=${resetSeconds}`;
}

/**
 * Exponential backoff, the one way the gateway waits before trying again:
 * the first wait, doubled per attempt, up to a cap. Used by every retry loop
 * (Kafka start-up, reads, group rejoins, transactions; NATS connects; the
 * HTTP listener reopened) and the throttle of failed authentications.
 *
 * @example
 * ```ts
 * import { backoffDelay, sleep } from "./backoff.ts";
 *
 * const policy = { firstMs: 100, maxMs: 1_000 };
 * for (let attempt = 0; attempt < 3; attempt++) await sleep(backoffDelay(attempt, policy));
 * // waited 100, 200 and 400 ms
 * ```
 *
 * @module
 */

/** How a retry loop waits. */
export interface Backoff {
  /** The wait before the first retry (attempt 0), in ms. */
  firstMs: number;
  /** The longest wait, in ms. */
  maxMs: number;
}

/** The wait before retry `attempt` (counted from 0): `firstMs * 2^attempt`, at most `maxMs`. */
export function backoffDelay(attempt: number, { firstMs, maxMs }: Backoff): number {
  // Past 2^30 the product only grows past any cap; stopping there keeps it finite.
  return Math.min(maxMs, firstMs * 2 ** Math.min(Math.max(0, attempt), 30));
}

/** Resolves after `ms`. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Slows down guessing: after `threshold` failed authentications from one IP
 * address, that address must wait before its next credential is checked: 1 s
 * after the next failure, doubling with each further one up to `maxDelayMs`.
 * An address is forgotten after {@linkcode FAILURE_MEMORY_MS} without a
 * failure. Per process, like every limit of the gateway.
 *
 * @module
 */
import { backoffDelay } from "../backoff.ts";

/** How long an address's failures are remembered after its last one, in ms. */
export const FAILURE_MEMORY_MS = 15 * 60_000;
/** Wait imposed by the first failure past the threshold, in ms. */
export const FIRST_DELAY_MS = 1000;
/** Most addresses remembered; the one that failed longest ago is forgotten first. */
export const MAX_TRACKED_ADDRESSES = 100_000;

/** Options of {@linkcode FailureThrottle}. */
export interface FailureThrottleOptions {
  /** Failures from one address before it has to wait. */
  threshold: number;
  /** Longest wait, in ms. */
  maxDelayMs: number;
  /** The clock, in ms. @default {Date.now} */
  now?: () => number;
}

interface Failures {
  count: number;
  last: number;
  blockedUntil: number;
}

/** Failed authentications per client address. */
export class FailureThrottle {
  readonly #options: FailureThrottleOptions;
  readonly #now: () => number;
  readonly #addresses = new Map<string, Failures>();

  /** A throttle with no failures yet. */
  constructor(options: FailureThrottleOptions) {
    this.#options = options;
    this.#now = options.now ?? Date.now;
  }

  /** How long `address` must still wait before its credential is checked, in ms (0: none). */
  waitMs(address: string): number {
    const entry = this.#addresses.get(address);
    return entry ? Math.max(0, entry.blockedUntil - this.#now()) : 0;
  }

  /** Counts a failed authentication from `address`. */
  failed(address: string): void {
    const now = this.#now();
    let entry = this.#addresses.get(address);
    if (!entry || now - entry.last > FAILURE_MEMORY_MS) {
      entry = { count: 0, last: now, blockedUntil: 0 };
    }
    this.#addresses.delete(address);
    entry.count++;
    entry.last = now;
    const over = entry.count - this.#options.threshold;
    if (over > 0) {
      entry.blockedUntil = now +
        backoffDelay(over - 1, { firstMs: FIRST_DELAY_MS, maxMs: this.#options.maxDelayMs });
    }
    this.#addresses.set(address, entry);
    if (this.#addresses.size > MAX_TRACKED_ADDRESSES) {
      this.#addresses.delete(this.#addresses.keys().next().value!);
    }
  }
}

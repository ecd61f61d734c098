/**
 * A token bucket: holds up to `burst` tokens, refilled continuously at
 * `perSecond`; an action costing `n` tokens may go when `n` are there.
 *
 * @module
 */

/** A clock in ms; tests hand in their own. */
export type Clock = () => number;

/** What the bucket decided about taking some tokens. */
export interface BucketDecision {
  /** Whether the tokens were taken. */
  allowed: boolean;
  /** Whole tokens left after the decision. */
  remaining: number;
  /** Ms until the bucket is full again. */
  fullInMs: number;
  /** Ms until the refused cost fits (0 when allowed; `Infinity` when it exceeds the burst). */
  retryInMs: number;
}

/**
 * A token bucket with its own clock.
 *
 * @example
 * ```ts
 * const bucket = new TokenBucket(10, 20); // 10/s, bursts of 20
 * bucket.take(20).allowed; // true
 * bucket.take(1).retryInMs; // 100
 * ```
 */
export class TokenBucket {
  /** Tokens added per second. */
  readonly perSecond: number;
  /** Most tokens the bucket holds. */
  readonly burst: number;
  readonly #clock: Clock;
  #tokens: number;
  #at: number;

  /** A full bucket of `burst` tokens refilled at `perSecond`. */
  constructor(perSecond: number, burst: number, clock: Clock = Date.now) {
    this.perSecond = perSecond;
    this.burst = burst;
    this.#clock = clock;
    this.#tokens = burst;
    this.#at = clock();
  }

  /** Whether the bucket is full (and so no different from a new one). */
  get full(): boolean {
    this.#refill();
    return this.#tokens >= this.burst;
  }

  /** Takes `cost` tokens if there are that many. */
  take(cost: number): BucketDecision {
    this.#refill();
    const allowed = cost <= this.#tokens;
    if (allowed) this.#tokens -= cost;
    const missing = allowed ? 0 : cost - this.#tokens;
    return {
      allowed,
      remaining: Math.floor(this.#tokens),
      fullInMs: this.#msFor(this.burst - this.#tokens),
      retryInMs: cost > this.burst ? Infinity : this.#msFor(missing),
    };
  }

  #msFor(tokens: number): number {
    return Math.ceil((tokens / this.perSecond) * 1000);
  }

  #refill(): void {
    const now = this.#clock();
    this.#tokens = Math.min(this.burst, this.#tokens + ((now - this.#at) / 1000) * this.perSecond);
    this.#at = now;
  }
}

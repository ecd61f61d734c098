/**
 * One {@linkcode TokenBucket} per key (a principal or an address), in memory
 * of this process. A bucket that has refilled is the same as none, so full
 * buckets are dropped on a sweep: memory follows the keys active in the last
 * refill period, not every key ever seen.
 *
 * @module
 */
import { type BucketDecision, type Clock, TokenBucket } from "./token_bucket.ts";

/** Default interval between sweeps of full buckets, in ms. */
export const DEFAULT_SWEEP_INTERVAL_MS = 10_000;

/** Options of {@linkcode KeyedBuckets}. */
export interface KeyedBucketsOptions {
  /** Tokens added per second to each bucket. */
  perSecond: number;
  /** Most tokens a bucket holds. */
  burst: number;
  /** The clock; default `Date.now`. */
  clock?: Clock;
  /** Least time between sweeps, in ms; default {@linkcode DEFAULT_SWEEP_INTERVAL_MS}. */
  sweepIntervalMs?: number;
}

/** Token buckets by key. */
export class KeyedBuckets {
  readonly #buckets = new Map<string, TokenBucket>();
  readonly #options: KeyedBucketsOptions;
  readonly #clock: Clock;
  #sweptAt: number;

  /** Buckets of `options.burst` tokens refilled at `options.perSecond`. */
  constructor(options: KeyedBucketsOptions) {
    this.#options = options;
    this.#clock = options.clock ?? Date.now;
    this.#sweptAt = this.#clock();
  }

  /** Keys with a bucket that is not full. */
  get size(): number {
    return this.#buckets.size;
  }

  /** Takes `cost` tokens from `key`'s bucket if it has them. */
  take(key: string, cost: number): BucketDecision {
    this.#sweep();
    let bucket = this.#buckets.get(key);
    if (!bucket) {
      bucket = new TokenBucket(this.#options.perSecond, this.#options.burst, this.#clock);
      this.#buckets.set(key, bucket);
    }
    return bucket.take(cost);
  }

  #sweep(): void {
    const now = this.#clock();
    if (now - this.#sweptAt < (this.#options.sweepIntervalMs ?? DEFAULT_SWEEP_INTERVAL_MS)) return;
    this.#sweptAt = now;
    for (const [key, bucket] of this.#buckets) {
      if (bucket.full) this.#buckets.delete(key);
    }
  }
}

/**
 * The open-subscriptions limit: at most `max` subscriptions per principal
 * (per client address when anonymous) in this process, counted from the
 * request until the subscription ends.
 *
 * @module
 */

/** Gives a slot back; calling it again does nothing. */
export type Release = () => void;

/** Counts open subscriptions per key against a maximum. */
export class SubscriptionSlots {
  /** Most open subscriptions per key. */
  readonly max: number;
  readonly #open = new Map<string, number>();

  /** At most `max` open subscriptions per key. */
  constructor(max: number) {
    this.max = max;
  }

  /** Open subscriptions of `key`. */
  count(key: string): number {
    return this.#open.get(key) ?? 0;
  }

  /** Takes a slot of `key`: its release, or `undefined` when `key` has `max` open already. */
  acquire(key: string): Release | undefined {
    const open = this.count(key);
    if (open >= this.max) return undefined;
    this.#open.set(key, open + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const left = this.count(key) - 1;
      if (left > 0) this.#open.set(key, left);
      else this.#open.delete(key);
    };
  }
}

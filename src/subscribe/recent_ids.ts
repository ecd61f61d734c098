/**
 * Event ids seen recently, remembered for a time window (and up to a count),
 * oldest forgotten first: the group feed's acked ids, the live feed's repeats.
 *
 * @module
 */

/** Event ids remembered for `windowMs` after they were last added, at most `maxIds` of them. */
export class RecentIds {
  readonly #ids = new Map<string, number>();
  readonly #windowMs: number;
  readonly #maxIds: number;

  /** Remembers each id for `windowMs`; past `maxIds`, the oldest is forgotten early. */
  constructor(windowMs: number, maxIds = Infinity) {
    this.#windowMs = windowMs;
    this.#maxIds = maxIds;
  }

  /** Remembers `id` as seen at `now` (ms). */
  add(id: string, now: number): void {
    this.#ids.delete(id);
    this.#ids.set(id, now);
    for (const [old, at] of this.#ids) {
      if (now - at <= this.#windowMs && this.#ids.size <= this.#maxIds) break;
      this.#ids.delete(old);
    }
  }

  /** Forgets `id`. */
  delete(id: string): void {
    this.#ids.delete(id);
  }

  /** Whether `id` was added within the window. */
  has(id: string): boolean {
    return this.#ids.has(id);
  }
}

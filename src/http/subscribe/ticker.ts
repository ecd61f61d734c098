/**
 * One shared timer for many connections (heartbeats, drain polls), running
 * only while some connection needs it.
 *
 * @module
 */

/**
 * Calls every added callback on each tick of one timer. The timer runs only
 * while at least one callback is added.
 *
 * @example
 * ```ts
 * import { Ticker } from "./ticker.ts";
 *
 * const heartbeats = new Ticker(15_000);
 * const stop = heartbeats.add(() => console.log("beat"));
 * stop();
 * ```
 */
export class Ticker {
  readonly #callbacks = new Set<() => void>();
  readonly #intervalMs: number;
  #timer?: ReturnType<typeof setInterval>;

  /** A ticker that ticks every `intervalMs`. */
  constructor(intervalMs: number) {
    this.#intervalMs = intervalMs;
  }

  /** Calls `tick` on every tick until the returned function is called. */
  add(tick: () => void): () => void {
    this.#callbacks.add(tick);
    this.#timer ??= setInterval(() => this.#callbacks.forEach((c) => c()), this.#intervalMs);
    return () => {
      this.#callbacks.delete(tick);
      if (this.#callbacks.size === 0 && this.#timer !== undefined) {
        clearInterval(this.#timer);
        this.#timer = undefined;
      }
    };
  }
}

/**
 * The chaos runner's own event-loop lag: a timer every 50 ms notes how late
 * it ran. The load generator stamps attempts on this loop, so a stalled loop
 * makes answers look late that were not; the round reports the worst stall.
 *
 * @module
 */

/** Interval of the probe timer, in ms. */
const PROBE_MS = 50;

/** Samples the event loop's lag until stopped. */
export class LoopLag {
  #timer?: ReturnType<typeof setInterval>;
  #expected = 0;
  /** Lateness of every probe, ms, with when it ran (`performance.now()`). */
  readonly samples: [at: number, lagMs: number][] = [];

  /** Starts sampling. */
  start(): void {
    this.#expected = performance.now() + PROBE_MS;
    this.#timer = setInterval(() => {
      const now = performance.now();
      this.samples.push([now, Math.max(0, now - this.#expected)]);
      this.#expected = now + PROBE_MS;
    }, PROBE_MS);
  }

  /** Stops sampling. */
  stop(): void {
    clearInterval(this.#timer);
  }

  /** The longest lag between `from` and `to`, ms. */
  max(from = 0, to = Infinity): number {
    let max = 0;
    for (const [at, lag] of this.samples) if (at >= from && at <= to && lag > max) max = lag;
    return max;
  }
}

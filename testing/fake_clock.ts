/**
 * A {@linkcode Clock} whose time moves only when a test says so: timers fire
 * in order of their due time, inside {@linkcode FakeClock.tick}.
 *
 * @module
 */
import type { Clock, TimerId } from "../src/clock.ts";

interface Timer {
  fn: () => void;
  due: number;
  /** Repeats every this many ms (setInterval); undefined for a one-shot timer. */
  every?: number;
}

/** Time that stands still until {@linkcode FakeClock.tick}. */
export class FakeClock implements Clock {
  #now: number;
  #nextId = 1;
  readonly #timers = new Map<TimerId, Timer>();

  /** Starts at `start` (ms since the epoch). */
  constructor(start = 1_700_000_000_000) {
    this.#now = start;
  }

  now(): number {
    return this.#now;
  }

  setTimeout(fn: () => void, ms: number): TimerId {
    const id = this.#nextId++;
    this.#timers.set(id, { fn, due: this.#now + Math.max(0, ms) });
    return id;
  }

  clearTimeout(id: TimerId | undefined): void {
    if (id !== undefined) this.#timers.delete(id);
  }

  setInterval(fn: () => void, ms: number): TimerId {
    const id = this.#nextId++;
    const every = Math.max(1, ms);
    this.#timers.set(id, { fn, due: this.#now + every, every });
    return id;
  }

  clearInterval(id: TimerId | undefined): void {
    this.clearTimeout(id);
  }

  /** Timers not cancelled and not fired yet. */
  get pending(): number {
    return this.#timers.size;
  }

  /**
   * Moves time on by `ms`, firing every timer that falls due on the way, in
   * order; between timers, promises settled by them run (so async follow-ups
   * of a timer happen at its time, as on a real clock).
   */
  async tick(ms: number): Promise<void> {
    const end = this.#now + ms;
    for (;;) {
      let nextId: TimerId | undefined;
      let next: Timer | undefined;
      for (const [id, timer] of this.#timers) {
        if (timer.due <= end && (!next || timer.due < next.due)) [nextId, next] = [id, timer];
      }
      if (!next || nextId === undefined) break;
      this.#now = next.due;
      if (next.every === undefined) this.#timers.delete(nextId);
      else next.due += next.every;
      next.fn();
      await settle();
    }
    this.#now = end;
    await settle();
  }
}

/** Lets promises that are already settled run their callbacks (a few turns of microtasks). */
async function settle(): Promise<void> {
  for (let i = 0; i < 10; i++) await Promise.resolve();
}

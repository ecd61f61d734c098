/**
 * Time as a component sees it: the current time and timers. Components that
 * wait take a {@linkcode Clock} (default {@linkcode SYSTEM_CLOCK}) so their
 * tests can move time on by hand instead of waiting for it
 * (`testing/fake_clock.ts`).
 *
 * @module
 */

/** A timer made by a {@linkcode Clock}. */
export type TimerId = number;

/** The current time and timers. */
export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
  /** Runs `fn` once after `ms`. */
  setTimeout(fn: () => void, ms: number): TimerId;
  /** Cancels a timer of `setTimeout` (nothing when `id` is undefined or fired). */
  clearTimeout(id: TimerId | undefined): void;
  /** Runs `fn` every `ms`. */
  setInterval(fn: () => void, ms: number): TimerId;
  /** Cancels a timer of `setInterval`. */
  clearInterval(id: TimerId | undefined): void;
}

/** The runtime's clock and timers (Deno's timer ids are numbers; Node's types say objects). */
export const SYSTEM_CLOCK: Clock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms) as unknown as TimerId,
  clearTimeout: (id) => clearTimeout(id),
  setInterval: (fn, ms) => setInterval(fn, ms) as unknown as TimerId,
  clearInterval: (id) => clearInterval(id),
};

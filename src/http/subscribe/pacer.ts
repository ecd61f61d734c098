/**
 * What the WebSocket and SSE transports share between their send queue and
 * the subscription: credit, the drain and stall decisions on the shared drain
 * ticker, and the counting of delivered and slow subscribers. A transport
 * gives it how to send and how many bytes wait; it decides nothing about
 * frames or closing.
 *
 * @module
 */
import type { Delivery } from "../../subscribe/delivery.ts";
import type { Meter } from "./meter.ts";
import { SendQueue, type SendQueueOptions } from "./queue.ts";
import type { Ticker } from "./ticker.ts";

/** Paces one subscriber's sends: credit while frames are pending, looked at on every tick. */
export class Pacer {
  readonly #options: SendQueueOptions;
  readonly #queue: SendQueue;
  readonly #meter: Meter;
  readonly #drainTicker: Ticker;
  readonly #onStall: () => void;
  #onDrain = () => {};
  #stopPolling?: () => void;
  /** The subscription ended (stopped, or stalled): never looked at again. */
  #ended = false;

  /**
   * A pacer within `options` over a transport whose unsent bytes `buffered`
   * tells, counted by `meter`, polled on `drainTicker` while frames are
   * pending; `onStall` ends the subscription of a durable client that read
   * nothing for the stall timeout.
   */
  constructor(
    options: SendQueueOptions,
    buffered: () => number,
    meter: Meter,
    drainTicker: Ticker,
    onStall: () => void,
  ) {
    this.#options = options;
    this.#queue = new SendQueue(options, buffered);
    this.#meter = meter;
    this.#drainTicker = drainTicker;
    this.#onStall = onStall;
  }

  /** Whether the client has credit for another event. */
  get writable(): boolean {
    return this.#queue.writable;
  }

  /** Sets the listener told when credit comes back (the subscriber's feed). */
  onDrain(listener: () => void): void {
    this.#onDrain = listener;
  }

  /**
   * Sends the event frame of `delivery` (`size` bytes) with `send`; false when
   * a bounded (live) queue is full, counted as an overflow: the caller closes.
   */
  offer(delivery: Delivery, size: number, send: () => void): boolean {
    if (!this.#queue.offer(send, size)) {
      this.#meter.slow("overflow");
      return false;
    }
    this.#meter.delivered(delivery);
    // Not after the end: a send that ends the subscription from inside (its stream cancelled as
    // the frame goes out) must not start polling again, or the stall would be decided forever.
    if (this.#options.paced && !this.#ended) {
      this.#stopPolling ??= this.#drainTicker.add(() => this.#poll());
    }
    return true;
  }

  /** Sends a control frame (ready, heartbeat, error) with `send`, outside the event budget. */
  control(send: () => void): void {
    this.#queue.control(send);
  }

  /** Stops looking at the queue for good (the subscription ended). */
  stop(): void {
    this.#ended = true;
    this.#unpoll();
  }

  #unpoll(): void {
    this.#stopPolling?.();
    this.#stopPolling = undefined;
  }

  #poll(): void {
    switch (this.#queue.poll()) {
      case "drained":
        this.#onDrain();
        break;
      case "stalled":
        // Decided once, whatever the transport does about it.
        this.stop();
        this.#meter.slow("stalled");
        this.#onStall();
        break;
      case "idle":
        this.#unpoll();
        break;
    }
  }
}

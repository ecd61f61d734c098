/**
 * The bounded send queue of a subscription connection, shared by both
 * transports.
 *
 * @module
 */
import type { Delivery } from "../../subscribe/delivery.ts";
import { inSpanSync } from "../../telemetry/tracing.ts";
import type { Meter } from "./meter.ts";

/** How much may be queued for one client before it is disconnected. */
export interface QueueLimits {
  /** Most events queued for a client before it is disconnected. */
  maxQueueEvents: number;
  /** Most bytes queued for a client before it is disconnected. */
  maxQueueBytes: number;
}

/**
 * A connection's bounded send queue. The transport reports only its buffered
 * bytes, so frames are retired from the front once the bytes behind them
 * exceed what is still buffered; what remains is the queue's length.
 */
export class SendQueue {
  readonly #limits: QueueLimits;
  readonly #meter: Meter;
  readonly #sizes: number[] = [];
  #bytes = 0;

  /** A queue within `limits` whose sends and overflows are counted by `meter`. */
  constructor(limits: QueueLimits, meter: Meter) {
    this.#limits = limits;
    this.#meter = meter;
  }

  /**
   * Hands `delivery` (`size` bytes) to `send` unless the queue is full given
   * the transport's `buffered` bytes. Returns false for a slow consumer.
   */
  offer(delivery: Delivery, size: number, buffered: number, send: () => void): boolean {
    while (this.#sizes.length > 0 && this.#bytes - this.#sizes[0] >= buffered) {
      this.#bytes -= this.#sizes.shift()!;
    }
    if (buffered === 0) this.#sizes.length = this.#bytes = 0;
    if (
      this.#sizes.length >= this.#limits.maxQueueEvents ||
      buffered + size > this.#limits.maxQueueBytes
    ) {
      this.#meter.slow();
      return false;
    }
    inSpanSync(`${this.#meter.transport}.send`, send);
    this.#sizes.push(size);
    this.#bytes += size;
    this.#meter.delivered(delivery);
    return true;
  }
}

/**
 * The Server-Sent Events transport of subscriptions: a `text/event-stream`
 * body with a bounded send queue; events count as acked once written.
 *
 * @module
 */
import type { CloseReason, Delivery, Subscriber } from "../../subscribe/delivery.ts";
import {
  CLOSE_REASONS,
  SSE_HEARTBEAT_FRAME,
  sseErrorFrame,
  sseEventFrame,
  sseReadyFrame,
  sseRetryFrame,
} from "./frames.ts";
import type { Meter } from "./meter.ts";
import { type QueueLimits, SendQueue } from "./queue.ts";

const encoder = new TextEncoder();

/** A subscriber over one Server-Sent Events stream. */
export class SseSubscriber implements Subscriber {
  /** Server-Sent Events cannot ack: an event counts as acked once written. */
  readonly acks = false;
  /** The response body. */
  readonly stream: ReadableStream<Uint8Array>;
  readonly #maxQueueBytes: number;
  readonly #queue: SendQueue;
  readonly #meter: Meter;
  readonly #onDone: () => void;
  #controller!: ReadableStreamDefaultController<Uint8Array>;
  #closed = false;

  /**
   * A stream within `limits` that opens with `retry: retryMs`, counted by
   * `meter`; `onDone` runs once when the stream ends, from either side.
   */
  constructor(limits: QueueLimits, retryMs: number, meter: Meter, onDone: () => void) {
    this.#maxQueueBytes = limits.maxQueueBytes;
    this.#queue = new SendQueue(limits, meter);
    this.#meter = meter;
    this.#onDone = onDone;
    this.stream = new ReadableStream<Uint8Array>({
      start: (controller) => {
        this.#controller = controller;
      },
      cancel: () => {
        this.#closed = true;
        onDone();
      },
    }, new ByteLengthQueuingStrategy({ highWaterMark: limits.maxQueueBytes }));
    this.#write(sseRetryFrame(retryMs));
  }

  /**
   * Queues the event frame of `delivery`; closes the stream if the queue
   * overflowed. An event whose type cannot be an `event:` field (it holds a
   * line break) is skipped and logged.
   */
  send(delivery: Delivery): boolean {
    if (this.#closed) return false;
    let text: string;
    try {
      text = delivery.frame(sseEventFrame);
    } catch (error) {
      if (!(error instanceof TypeError)) throw error;
      this.#meter.unsendable(delivery, error);
      return true;
    }
    const frame = encoder.encode(text);
    const buffered = Math.max(0, this.#maxQueueBytes - (this.#controller.desiredSize ?? 0));
    if (
      this.#queue.offer(delivery, frame.byteLength, buffered, () => this.#controller.enqueue(frame))
    ) return true;
    this.close("slow-consumer");
    return false;
  }

  /** Sends the ready frame. */
  ready(info: Record<string, unknown>): void {
    this.#write(sseReadyFrame(info));
  }

  /** Sends a heartbeat comment. */
  heartbeat(): void {
    this.#write(SSE_HEARTBEAT_FRAME);
  }

  /** Sends an error frame for `reason`, then ends the stream. */
  close(reason: CloseReason): void {
    if (this.#closed) return;
    this.#write(sseErrorFrame(reason, CLOSE_REASONS[reason].detail));
    this.#closed = true;
    this.#controller.close();
    this.#onDone();
  }

  #write(text: string): void {
    if (!this.#closed) this.#controller.enqueue(encoder.encode(text));
  }
}

/**
 * The Server-Sent Events transport of subscriptions: a `text/event-stream`
 * body fed through a send queue (paced on durable subscriptions, bounded on
 * live ones); events count as acked once written.
 *
 * @module
 */
import type { CloseReason, Delivery, Subscriber } from "../../subscribe/delivery.ts";
import { inSpanSync } from "../../telemetry/tracing.ts";
import {
  CLOSE_REASONS,
  SSE_HEARTBEAT_FRAME,
  sseErrorFrame,
  sseEventFrame,
  sseReadyFrame,
  sseRetryFrame,
  stalledDetail,
} from "./frames.ts";
import type { Meter } from "./meter.ts";
import { Pacer } from "./pacer.ts";
import type { SendQueueOptions } from "./queue.ts";
import type { Ticker } from "./ticker.ts";

const encoder = new TextEncoder();

/**
 * A subscriber over one Server-Sent Events stream. The stream's own queue
 * (up to `maxQueueBytes`) holds what the HTTP server has not taken yet; a
 * paced subscriber with frames pending is looked at on every tick of the
 * shared drain ticker until nothing is pending.
 */
export class SseSubscriber implements Subscriber {
  /** Server-Sent Events cannot ack: an event counts as acked once written. */
  readonly acks = false;
  /** The response body. */
  readonly stream: ReadableStream<Uint8Array>;
  readonly #pacer: Pacer;
  readonly #meter: Meter;
  readonly #onDone: () => void;
  #controller!: ReadableStreamDefaultController<Uint8Array>;
  #closed = false;

  /**
   * A stream within `options` that opens with `retry: retryMs`, counted by
   * `meter`; while paced frames are pending it is polled on `drainTicker`.
   * `onDone` runs once when the stream ends, from either side.
   */
  constructor(
    options: SendQueueOptions,
    retryMs: number,
    meter: Meter,
    drainTicker: Ticker,
    onDone: () => void,
  ) {
    this.#meter = meter;
    this.#onDone = onDone;
    this.stream = new ReadableStream<Uint8Array>({
      start: (controller) => {
        this.#controller = controller;
      },
      cancel: () => {
        if (this.#closed) return;
        this.#closed = true;
        this.#finish();
      },
    }, new ByteLengthQueuingStrategy({ highWaterMark: options.maxQueueBytes }));
    this.#pacer = new Pacer(
      options,
      () => Math.max(0, options.maxQueueBytes - (this.#controller.desiredSize ?? 0)),
      meter,
      drainTicker,
      () => this.#end("slow-consumer", stalledDetail(options.stallTimeoutMs)),
    );
    this.#write(sseRetryFrame(retryMs));
  }

  /** Whether the client has credit for another event. */
  get writable(): boolean {
    return this.#pacer.writable;
  }

  /** Sets the listener told when credit comes back. */
  onDrain(listener: () => void): void {
    this.#pacer.onDrain(listener);
  }

  /**
   * Queues the event frame of `delivery`; a bounded queue that overflows ends
   * the stream. False when the stream has ended, before or during the send.
   * An event whose type cannot be an `event:` field (it holds a line break)
   * is skipped and logged.
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
    const sent = this.#pacer.offer(
      delivery,
      frame.byteLength,
      () => inSpanSync("sse.send", delivery.context, () => this.#controller.enqueue(frame)),
    );
    if (!sent) this.close("slow-consumer");
    // A stream cancelled as the frame went out (the client left) did not deliver it: a group
    // hands the event to another member instead of counting it acked.
    return sent && !this.#closed;
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
    this.#end(reason, CLOSE_REASONS[reason].detail);
  }

  /**
   * Writes the error frame and ends the stream, and the subscription with it:
   * the feed and the gauges do not wait for the client. What is still queued
   * reaches a client that reads again.
   */
  #end(error: string, detail: string): void {
    if (this.#closed) return;
    this.#write(sseErrorFrame(error, detail));
    this.#closed = true;
    this.#controller.close();
    this.#finish();
  }

  #finish(): void {
    this.#pacer.stop();
    this.#onDone();
  }

  #write(text: string): void {
    if (!this.#closed) this.#pacer.control(() => this.#controller.enqueue(encoder.encode(text)));
  }
}

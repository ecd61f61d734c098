/**
 * The WebSocket transport of subscriptions: events as JSON text frames, acked
 * by the client, through a send queue (paced on durable subscriptions, bounded
 * on live ones).
 *
 * @module
 */
import type { CloseReason, Delivery, Subscriber } from "../../subscribe/delivery.ts";
import { inSpanSync } from "../../telemetry/tracing.ts";
import {
  ackedFrame,
  CLOSE_CODES,
  CLOSE_REASONS,
  errorFrame,
  HEARTBEAT_FRAME,
  readyFrame,
  SOCKET_FAILURE_CODES,
  type SocketFailure,
  stalledDetail,
  wsEventFrame,
} from "./frames.ts";
import type { Meter } from "./meter.ts";
import { Pacer } from "./pacer.ts";
import type { SendQueueOptions } from "./queue.ts";
import type { Ticker } from "./ticker.ts";

/**
 * A subscriber over one WebSocket.
 *
 * Deno's `WebSocket` tells how many bytes it still buffers but not when they
 * drain, so a paced subscriber with frames pending is looked at on every tick
 * of the shared drain ticker until nothing is pending.
 */
export class WebSocketSubscriber implements Subscriber {
  /** WebSocket clients ack each event. */
  readonly acks = true;
  readonly #socket: WebSocket;
  readonly #pacer: Pacer;
  readonly #onDone: () => void;
  #closed = false;
  #done = false;

  /**
   * A subscriber sending over `socket` within `options`, counted by `meter`;
   * while paced frames are pending it is polled on `drainTicker`. `onDone`
   * runs once, when the gateway closes the subscription or the socket closes.
   */
  constructor(
    socket: WebSocket,
    options: SendQueueOptions,
    meter: Meter,
    drainTicker: Ticker,
    onDone: () => void,
  ) {
    this.#socket = socket;
    this.#pacer = new Pacer(
      options,
      () => socket.bufferedAmount,
      meter,
      drainTicker,
      () =>
        this.#close(
          CLOSE_CODES.slowConsumer,
          "slow-consumer",
          stalledDetail(options.stallTimeoutMs),
        ),
    );
    this.#onDone = onDone;
  }

  /** Whether the client has credit for another event. */
  get writable(): boolean {
    return this.#pacer.writable;
  }

  /** Sets the listener told when credit comes back. */
  onDrain(listener: () => void): void {
    this.#pacer.onDrain(listener);
  }

  /** Sends the event frame of `delivery`; a bounded queue that overflows closes the socket. */
  send(delivery: Delivery): boolean {
    if (this.#closed || this.#socket.readyState !== WebSocket.OPEN) return false;
    const frame = delivery.frame(wsEventFrame);
    const sent = this.#pacer.offer(
      delivery,
      frame.length,
      () => inSpanSync("websocket.send", delivery.context, () => this.#socket.send(frame)),
    );
    if (!sent) this.close("slow-consumer");
    return sent;
  }

  /** Sends the acked frame of `cursor`: the client's ack of it is committed. */
  confirm(cursor: string): void {
    this.#write(ackedFrame(cursor));
  }

  /** Sends the ready frame. */
  ready(info: Record<string, unknown>): void {
    this.#write(readyFrame(info));
  }

  /** Sends a heartbeat frame. */
  heartbeat(): void {
    this.#write(HEARTBEAT_FRAME);
  }

  /** Sends an error frame for `reason`, then closes with its code. */
  close(reason: CloseReason): void {
    const { code, detail } = CLOSE_REASONS[reason];
    this.#close(code, reason, detail);
  }

  /** Sends an error frame for `failure`, then closes with its code. */
  fail(failure: SocketFailure, detail: string): void {
    this.#close(SOCKET_FAILURE_CODES[failure], failure, detail);
  }

  /** Ends the subscription once the socket has closed, from either side. */
  socketClosed(): void {
    this.#closed = true;
    this.#finish();
  }

  /**
   * Sends the error frame and the close frame, and ends the subscription at
   * once: the feed and the gauges do not wait for the client. Deno keeps the
   * TCP connection until the client reads what is still buffered and answers
   * the close frame, which any WebSocket client does once it reads again.
   */
  #close(code: number, error: string, detail: string): void {
    if (this.#closed) return;
    this.#write(errorFrame(error, detail));
    this.#closed = true;
    if (this.#socket.readyState === WebSocket.OPEN) this.#socket.close(code, error);
    this.#finish();
  }

  #finish(): void {
    this.#pacer.stop();
    if (this.#done) return;
    this.#done = true;
    this.#onDone();
  }

  #write(text: string): void {
    if (!this.#closed && this.#socket.readyState === WebSocket.OPEN) {
      this.#pacer.control(() => this.#socket.send(text));
    }
  }
}

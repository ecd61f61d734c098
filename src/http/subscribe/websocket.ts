/**
 * The WebSocket transport of subscriptions: events as JSON text frames, acked
 * by the client, with a bounded send queue.
 *
 * @module
 */
import type { CloseReason, Delivery, Subscriber } from "../../subscribe/delivery.ts";
import {
  CLOSE_REASONS,
  errorFrame,
  HEARTBEAT_FRAME,
  readyFrame,
  SOCKET_FAILURE_CODES,
  type SocketFailure,
  wsEventFrame,
} from "./frames.ts";
import type { Meter } from "./meter.ts";
import { type QueueLimits, SendQueue } from "./queue.ts";

/** A subscriber over one WebSocket. */
export class WebSocketSubscriber implements Subscriber {
  /** WebSocket clients ack each event. */
  readonly acks = true;
  readonly #socket: WebSocket;
  readonly #queue: SendQueue;
  #closed = false;

  /** A subscriber sending over `socket` within `limits`, counted by `meter`. */
  constructor(socket: WebSocket, limits: QueueLimits, meter: Meter) {
    this.#socket = socket;
    this.#queue = new SendQueue(limits, meter);
  }

  /** Queues the event frame of `delivery`; closes the socket if the queue overflowed. */
  send(delivery: Delivery): boolean {
    if (this.#closed || this.#socket.readyState !== WebSocket.OPEN) return false;
    const frame = delivery.frame(wsEventFrame);
    if (
      this.#queue.offer(
        delivery,
        frame.length,
        this.#socket.bufferedAmount,
        () => this.#socket.send(frame),
      )
    ) {
      return true;
    }
    this.close("slow-consumer");
    return false;
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

  #close(code: number, error: string, detail: string): void {
    if (this.#closed) return;
    this.#write(errorFrame(error, detail));
    this.#closed = true;
    if (this.#socket.readyState === WebSocket.OPEN) this.#socket.close(code, error);
  }

  #write(text: string): void {
    if (!this.#closed && this.#socket.readyState === WebSocket.OPEN) this.#socket.send(text);
  }
}

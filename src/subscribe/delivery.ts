/**
 * What subscribers receive, and the transport-facing side of a subscriber.
 *
 * @module
 */
import type { Envelope } from "../events/envelope.ts";

/**
 * One event on its way to subscribers. Frames are built once, on first use,
 * and shared by every subscriber of a feed.
 */
export class Delivery {
  /** The parsed envelope, for filters. */
  readonly envelope: Envelope<Record<string, unknown>>;
  /** The envelope JSON as stored. */
  readonly json: string;
  /** Cursor after this event; `undefined` on the live lane, which cannot resume. */
  readonly cursor: string | undefined;
  /** Partition and offset in the log (durable lane only). */
  readonly position: { partition: number; offset: bigint } | undefined;
  /** Trace headers of the record, e.g. `traceparent`. */
  readonly trace: Record<string, string>;
  #wsFrame?: string;
  #sseFrame?: string;

  /** One event with its cursor, log position and trace headers. */
  constructor(
    envelope: Envelope<Record<string, unknown>>,
    json: string,
    cursor: string | undefined,
    position: { partition: number; offset: bigint } | undefined,
    trace: Record<string, string>,
  ) {
    this.envelope = envelope;
    this.json = json;
    this.cursor = cursor;
    this.position = position;
    this.trace = trace;
  }

  /** The WebSocket frame: `{"type":"event","cursor":...,"event":{...}}`. */
  get wsFrame(): string {
    const trace = this.trace.traceparent
      ? `,"traceparent":${JSON.stringify(this.trace.traceparent)}`
      : "";
    return this.#wsFrame ??= `{"type":"event","cursor":${
      JSON.stringify(this.cursor ?? null)
    }${trace},"event":${this.json}}`;
  }

  /** The Server-Sent Events frame: `id:` cursor, `event:` type, `data:` envelope. */
  get sseFrame(): string {
    const id = this.cursor === undefined ? "" : `id: ${this.cursor}\n`;
    return this.#sseFrame ??= `${id}event: ${this.envelope.event_type}\ndata: ${this.json}\n\n`;
  }
}

/** Why a subscriber was disconnected by the gateway. */
export type CloseReason = "slow-consumer" | "shutdown" | "log-unavailable";

/** The transport side of one subscription (a WebSocket or an SSE stream). */
export interface Subscriber {
  /** Whether events are acknowledged by the client (WebSocket) or on send (SSE). */
  readonly acks: boolean;
  /**
   * Queues `delivery` for sending. Returns false when the subscriber's queue
   * overflowed: it is then being disconnected and gets nothing more.
   */
  send(delivery: Delivery): boolean;
  /** Tells the client the subscription is live. */
  ready(info: Record<string, unknown>): void;
  /** Disconnects the client for `reason`. */
  close(reason: CloseReason): void;
}

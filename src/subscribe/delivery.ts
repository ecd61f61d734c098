/**
 * What subscribers receive, and the transport-facing side of a subscriber.
 *
 * @module
 */
import type { Envelope } from "../events/envelope.ts";
import type { Context } from "../telemetry/tracing.ts";

/** Where a delivery sits in its trace: the headers sent on to clients, and the parent of its spans. */
export interface DeliveryTrace {
  /** W3C trace headers for frames, e.g. `traceparent`. */
  headers: Record<string, string>;
  /** The context of the span that read the event. */
  context: Context;
}

/** Builds the wire frame of a delivery for one transport. */
export type FrameBuilder = (delivery: Delivery) => string;

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
  /** The trace context of the read, the parent of send spans. */
  readonly context: Context;
  /** False for a live event mirrored before its durable write was acknowledged. */
  readonly durable: boolean;
  #frames?: Map<FrameBuilder, string>;
  #timestampMs?: number;

  /** One event with its cursor, log position, trace and whether it is durable yet. */
  constructor(
    envelope: Envelope<Record<string, unknown>>,
    json: string,
    cursor: string | undefined,
    position: { partition: number; offset: bigint } | undefined,
    trace: DeliveryTrace,
    durable = true,
  ) {
    this.envelope = envelope;
    this.json = json;
    this.cursor = cursor;
    this.position = position;
    this.trace = trace.headers;
    this.context = trace.context;
    this.durable = durable;
  }

  /** The envelope's `timestamp` in ms since the epoch, parsed once for every subscriber. */
  get timestampMs(): number {
    return this.#timestampMs ??= Date.parse(this.envelope.timestamp);
  }

  /**
   * The frame `build` makes of this delivery: built on first use, then shared
   * by every subscriber of the feed. `build` is the cache key, so pass a
   * module-level function rather than a fresh closure.
   */
  frame(build: FrameBuilder): string {
    const frames = this.#frames ??= new Map();
    let frame = frames.get(build);
    if (frame === undefined) {
      frame = build(this);
      frames.set(build, frame);
    }
    return frame;
  }
}

/** Why a subscriber was disconnected by the gateway. */
export type CloseReason = "slow-consumer" | "shutdown" | "log-unavailable" | "token-expired";

/**
 * The transport side of one subscription (a WebSocket or an SSE stream).
 *
 * Durable subscribers are paced: they report whether they have credit (room
 * under their high-water mark) and say when credit comes back, and durable and
 * group feeds send to them only while they have it. Live subscribers are
 * bounded: an event that does not fit their queue disconnects them.
 */
export interface Subscriber {
  /** Whether events are acknowledged by the client (WebSocket) or on send (SSE). */
  readonly acks: boolean;
  /**
   * Whether the subscriber has credit: room for another event under its
   * high-water mark. A paced subscriber sent to without credit still queues the
   * event; feeds that pace stop sending instead.
   */
  readonly writable: boolean;
  /**
   * Queues `delivery` for sending. Returns false when the subscriber is gone: it
   * was closed, or its bounded queue overflowed and it is being disconnected. It
   * then gets nothing more.
   */
  send(delivery: Delivery): boolean;
  /**
   * Tells the client that its ack of `cursor` is committed to the consumer
   * group (clients that ack only).
   */
  confirm?(cursor: string): void;
  /**
   * Calls `listener` each time credit comes back after `writable` was false.
   * There is one listener, the feed the subscriber is attached to; a new one
   * replaces it.
   */
  onDrain(listener: () => void): void;
  /** Tells the client the subscription is live. */
  ready(info: Record<string, unknown>): void;
  /** Disconnects the client for `reason`. */
  close(reason: CloseReason): void;
}

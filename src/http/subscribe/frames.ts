/**
 * The wire format of subscriptions, for both transports: frame types, close
 * codes and reasons, the builders of every frame the gateway sends, and the
 * parsing of the frames a client sends (an ack, a fresh token).
 *
 * WebSocket frames are JSON text, `{"type": ...}`. Server-Sent Events carry the
 * same JSON in `data:`, with the frame type (or the event type) as `event:` and
 * the cursor as `id:`; heartbeats are comments, and the stream opens with
 * `retry:`. {@linkcode sseMessage} writes every Server-Sent Events message.
 *
 * WebSocket close codes: 1001 the gateway is shutting down; 1009 a client
 * frame over the size limit; 1011 the subscription could not be opened (the
 * durable log or the bus is unavailable); 4400 a bad client frame (malformed
 * JSON, unknown type, invalid cursor, an ack for a cursor never sent); 4429 the
 * client did not keep up: on a durable subscription it drained nothing for the
 * stall timeout, on a live one its queue overflowed; 4401 the credential expired
 * (or a renewal token did not authenticate); 4403 a renewal token may not hold
 * the subscription.
 *
 * @module
 */
import { InvalidCursorError } from "../../subscribe/cursor.ts";
import type { CloseReason, Delivery } from "../../subscribe/delivery.ts";
import type { Subscription } from "../../subscribe/subscriptions.ts";

/** The `type` of every frame, and the `event:` of Server-Sent Events frames other than events. */
export const FRAME_TYPES = {
  /** Gateway to client: the subscription is live. */
  ready: "ready",
  /** Gateway to client: one event and the cursor after it. */
  event: "event",
  /** Client to gateway (WebSocket only): the event with this cursor is processed. */
  ack: "ack",
  /** Client to gateway (WebSocket only): a fresh token before the current one expires. */
  auth: "auth",
  /**
   * Gateway to client (consumer groups, WebSocket only): the ack with this
   * cursor is committed to the group; the event is not delivered to the group
   * again.
   */
  acked: "acked",
  /** Gateway to client: the connection is otherwise quiet. */
  heartbeat: "heartbeat",
  /** Gateway to client: why the gateway is closing the subscription. */
  error: "error",
} as const;

/** WebSocket close codes, by cause. */
export const CLOSE_CODES = {
  shutdown: 1001,
  frameTooLarge: 1009,
  unavailable: 1011,
  badFrame: 4400,
  unauthorized: 4401,
  forbidden: 4403,
  slowConsumer: 4429,
} as const;

/** The close code and the error frame's `detail` of each reason the core disconnects a client. */
export const CLOSE_REASONS: Record<CloseReason, { code: number; detail: string }> = {
  "slow-consumer": {
    code: CLOSE_CODES.slowConsumer,
    detail: "The client did not keep up: its live queue overflowed",
  },
  "shutdown": {
    code: CLOSE_CODES.shutdown,
    detail: "The gateway is shutting down; reconnect to another",
  },
  "log-unavailable": {
    code: CLOSE_CODES.unavailable,
    detail: "The subscription could not be opened",
  },
  "token-expired": {
    code: CLOSE_CODES.unauthorized,
    detail: 'The credential expired; send {"type":"auth","token":"..."} with a fresh one before ' +
      "it does, or reconnect with one",
  },
};

/** Why the WebSocket handler itself closes a connection: the `error` of its error frame. */
export type SocketFailure =
  | "unavailable"
  | "frame-too-large"
  | "bad-frame"
  | "unauthorized"
  | "forbidden";

/** The close code of each {@linkcode SocketFailure}. */
export const SOCKET_FAILURE_CODES: Record<SocketFailure, number> = {
  "unavailable": CLOSE_CODES.unavailable,
  "frame-too-large": CLOSE_CODES.frameTooLarge,
  "bad-frame": CLOSE_CODES.badFrame,
  "unauthorized": CLOSE_CODES.unauthorized,
  "forbidden": CLOSE_CODES.forbidden,
};

/** The `detail` when a subscription could not be opened for a reason the client cannot fix. */
export const OPEN_FAILED_DETAIL = "The subscription could not be opened; try again";

/** The `detail` of a `slow-consumer` close on a durable subscription whose client stopped reading. */
export function stalledDetail(stallTimeoutMs: number): string {
  return `The client did not keep up: it read nothing for ${stallTimeoutMs / 1000} s`;
}

/** The `detail` of a `frame-too-large` failure. */
export function frameTooLargeDetail(maxFrameBytes: number): string {
  return `Frames must be at most ${maxFrameBytes} bytes`;
}

/**
 * The WebSocket event frame:
 * `{"type":"event","cursor":...,"durable"?:false,"traceparent"?:...,"event":{...}}`.
 * `durable: false` marks a live event whose durable write was not acknowledged yet.
 */
export function wsEventFrame(delivery: Delivery): string {
  const { traceparent } = delivery.trace;
  const trace = traceparent ? `,"traceparent":${JSON.stringify(traceparent)}` : "";
  const durable = delivery.durable ? "" : `,"durable":false`;
  return `{"type":"${FRAME_TYPES.event}","cursor":${
    JSON.stringify(delivery.cursor ?? null)
  }${durable}${trace},"event":${delivery.json}}`;
}

/** The JSON of an acked frame: `{"type":"acked","cursor":...}`. */
export function ackedFrame(cursor: string): string {
  return JSON.stringify({ type: FRAME_TYPES.acked, cursor });
}

/** The JSON of a ready frame: `{"type":"ready", ...info}`. */
export function readyFrame(info: Record<string, unknown>): string {
  return JSON.stringify({ type: FRAME_TYPES.ready, ...info });
}

/** The JSON of a heartbeat frame (WebSocket). */
export const HEARTBEAT_FRAME: string = JSON.stringify({ type: FRAME_TYPES.heartbeat });

/** The JSON of an error frame: `{"type":"error","error":...,"detail":...}`. */
export function errorFrame(error: string, detail: string): string {
  return JSON.stringify({ type: FRAME_TYPES.error, error, detail });
}

/** The fields of one Server-Sent Events message, written in this order. */
export interface SseMessage {
  /** A comment line (`: ...`), ignored by clients; keeps the connection alive. */
  comment?: string;
  /** The client's reconnect delay, in ms. */
  retry?: number;
  /** The last event id, sent back by the client as `Last-Event-ID` on reconnect. */
  id?: string;
  /** The event type; clients default to `message`. */
  event?: string;
  /** The payload; each of its lines becomes one `data:` line. */
  data?: string;
}

const LINE_BREAK = /\r\n|\r|\n/;
const MESSAGE_END = "\n\n";

/**
 * Writes one Server-Sent Events message: a `field: value` line per field
 * given, `data` split into one `data:` line per line, then a blank line.
 *
 * @throws {TypeError} if `comment`, `id` or `event` contain a CR or LF, which
 * would end the field early and let the rest be read as other fields.
 */
export function sseMessage(message: SseMessage): string {
  const lines: string[] = [];
  const single = (field: string, value: string) => {
    if (LINE_BREAK.test(value)) {
      throw new TypeError(`An SSE ${field || "comment"} cannot contain a line break`);
    }
    lines.push(`${field}: ${value}`);
  };
  if (message.comment !== undefined) single("", message.comment);
  if (message.retry !== undefined) lines.push(`retry: ${message.retry}`);
  if (message.id !== undefined) single("id", message.id);
  if (message.event !== undefined) single("event", message.event);
  if (message.data !== undefined) {
    for (const line of message.data.split(LINE_BREAK)) lines.push(`data: ${line}`);
  }
  return lines.join("\n") + MESSAGE_END;
}

/**
 * The Server-Sent Events event frame: the cursor (if any) as `id:`, the event
 * type as `event:`, the envelope as `data:`.
 *
 * @throws {TypeError} if the event type contains a line break.
 */
export function sseEventFrame(delivery: Delivery): string {
  return sseMessage({
    id: delivery.cursor,
    event: delivery.envelope.event_type,
    data: delivery.json,
  });
}

/** The Server-Sent Events ready frame: `event: ready` with the JSON of {@linkcode readyFrame}. */
export function sseReadyFrame(info: Record<string, unknown>): string {
  return sseMessage({ event: FRAME_TYPES.ready, data: readyFrame(info) });
}

/** The Server-Sent Events heartbeat: a comment. */
export const SSE_HEARTBEAT_FRAME: string = sseMessage({ comment: FRAME_TYPES.heartbeat });

/** The Server-Sent Events error frame: `event: error` with the JSON of {@linkcode errorFrame}. */
export function sseErrorFrame(error: string, detail: string): string {
  return sseMessage({ event: FRAME_TYPES.error, data: errorFrame(error, detail) });
}

/** The first Server-Sent Events message of a stream: the reconnect delay. */
export function sseRetryFrame(retryMs: number): string {
  return sseMessage({ retry: retryMs });
}

/**
 * Handles one WebSocket client frame: `{"type":"ack","cursor":"..."}` acks
 * the cursor on `subscription` (`undefined` until the ready frame);
 * `{"type":"auth","token":"..."}` hands the token to `onAuth`. Returns what
 * is wrong with the frame, if anything.
 */
export function handleClientFrame(
  text: string,
  subscription: Pick<Subscription, "ack"> | undefined,
  onAuth: (token: string) => void = () => {},
): string | undefined {
  let frame: unknown;
  try {
    frame = JSON.parse(text);
  } catch {
    return "Frames must be JSON text";
  }
  const { type, cursor, token } = (frame ?? {}) as {
    type?: unknown;
    cursor?: unknown;
    token?: unknown;
  };
  if (type === FRAME_TYPES.auth) {
    if (typeof token !== "string") return "An auth frame needs a token";
    onAuth(token);
    return undefined;
  }
  if (type !== FRAME_TYPES.ack) {
    return `Client frames are {"type":"${FRAME_TYPES.ack}","cursor":"..."} and ` +
      `{"type":"${FRAME_TYPES.auth}","token":"..."}`;
  }
  if (typeof cursor !== "string") return "An ack needs the cursor of an event";
  if (!subscription) return "Wait for the ready frame before acking";
  try {
    subscription.ack(cursor);
  } catch (error) {
    if (error instanceof InvalidCursorError) return error.message;
    throw error;
  }
  return undefined;
}

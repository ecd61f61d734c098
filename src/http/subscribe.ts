/**
 * `GET /v1/subscribe` (WebSocket) and `GET /v1/stream` (Server-Sent Events):
 * the transports of subscriptions, each with a bounded send queue.
 *
 * WebSocket close codes: 1001 the gateway is shutting down; 1009 a client
 * frame over the size limit; 1011 the subscription could not be opened (the
 * durable log or the bus is unavailable); 4400 a bad client frame (malformed
 * JSON, unknown type, invalid cursor, an ack for a cursor never sent); 4429 the
 * client did not keep up and its queue overflowed.
 *
 * @module
 */
import type { Hono } from "hono";
import type { CloseReason, Delivery, Subscriber } from "../subscribe/delivery.ts";
import { InvalidCursorError } from "../subscribe/cursor.ts";
import { parseSubscriptionRequest, type SubscriptionRequest } from "../subscribe/request.ts";
import {
  LiveTopicError,
  type Subscription,
  type Subscriptions,
} from "../subscribe/subscriptions.ts";
import type { Logger } from "../telemetry/logger.ts";
import type { Metrics } from "../telemetry/metrics.ts";
import { inSpanSync } from "../telemetry/tracing.ts";
import { problem, problemResponse } from "./problem.ts";

/** Limits of one subscription connection. */
export interface ConnectionLimits {
  /** Most events queued for a client before it is disconnected. */
  maxQueueEvents: number;
  /** Most bytes queued for a client before it is disconnected. */
  maxQueueBytes: number;
  /** Largest frame a WebSocket client may send, in bytes. */
  maxFrameBytes: number;
  /** Interval of heartbeats, in ms. */
  heartbeatMs: number;
  /** SSE `retry:` (reconnect delay) sent to clients, in ms. */
  sseRetryMs: number;
}

/** What the subscription routes need. */
export interface SubscribeDeps {
  /** The subscription manager. */
  subscriptions: Subscriptions;
  /** Topic when the query names none. */
  defaultTopic: string;
  /** Per-connection limits. */
  limits: ConnectionLimits;
  /** Structured logger. */
  logger: Logger;
  /** Prometheus metrics. */
  metrics: Metrics;
}

type Transport = "websocket" | "sse";

/** Counts deliveries and disconnects of one subscription in the metrics. */
class Meter {
  readonly #metrics: Metrics;
  readonly #logger: Logger;
  readonly #labels: { mode: string; transport: Transport };
  #open = false;

  constructor(deps: SubscribeDeps, mode: string, transport: Transport) {
    this.#metrics = deps.metrics;
    this.#logger = deps.logger;
    this.#labels = { mode, transport };
  }

  opened(): void {
    this.#open = true;
    this.#metrics.subscribers.inc(this.#labels);
  }

  closed(): void {
    if (!this.#open) return;
    this.#open = false;
    this.#metrics.subscribers.dec(this.#labels);
  }

  delivered(delivery: Delivery): void {
    this.#metrics.delivered.inc(this.#labels);
    if (this.#logger.enabled("debug")) {
      this.#logger.log("debug", "Delivery", {
        event_id: delivery.envelope.event_id,
        ...this.#labels,
      });
    }
    const lag = (Date.now() - Date.parse(delivery.envelope.timestamp)) / 1000;
    if (lag >= 0) this.#metrics.deliveryLag.observe(this.#labels, lag);
  }

  slow(): void {
    this.#metrics.slowConsumers.inc({ transport: this.#labels.transport });
    this.#logger.log("warn", "Slow consumer disconnected", this.#labels);
  }
}

/** WebSocket close codes, by cause. */
export const CLOSE_CODES = {
  shutdown: 1001,
  frameTooLarge: 1009,
  unavailable: 1011,
  badFrame: 4400,
  slowConsumer: 4429,
} as const;

const REASONS: Record<CloseReason, { code: number; detail: string }> = {
  "slow-consumer": {
    code: CLOSE_CODES.slowConsumer,
    detail: "The client did not keep up: its queue overflowed",
  },
  "shutdown": {
    code: CLOSE_CODES.shutdown,
    detail: "The gateway is shutting down; reconnect to another",
  },
  "log-unavailable": {
    code: CLOSE_CODES.unavailable,
    detail: "The subscription could not be opened",
  },
};

/**
 * A connection's bounded send queue. The transport reports only its buffered
 * bytes, so frames are retired from the front once the bytes behind them
 * exceed what is still buffered; what remains is the queue's length.
 */
class SendQueue {
  readonly #limits: ConnectionLimits;
  readonly #meter: Meter;
  readonly #transport: Transport;
  readonly #sizes: number[] = [];
  #bytes = 0;

  constructor(limits: ConnectionLimits, meter: Meter, transport: Transport) {
    this.#limits = limits;
    this.#meter = meter;
    this.#transport = transport;
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
    inSpanSync(`${this.#transport}.send`, send);
    this.#sizes.push(size);
    this.#bytes += size;
    this.#meter.delivered(delivery);
    return true;
  }
}

/** One shared timer drives every connection's heartbeat. */
class Heartbeats {
  readonly #beats = new Set<() => void>();
  readonly #intervalMs: number;
  #timer?: ReturnType<typeof setInterval>;

  constructor(intervalMs: number) {
    this.#intervalMs = intervalMs;
  }

  add(beat: () => void): () => void {
    this.#beats.add(beat);
    this.#timer ??= setInterval(() => this.#beats.forEach((b) => b()), this.#intervalMs);
    return () => {
      this.#beats.delete(beat);
      if (this.#beats.size === 0 && this.#timer !== undefined) {
        clearInterval(this.#timer);
        this.#timer = undefined;
      }
    };
  }
}

class WebSocketSubscriber implements Subscriber {
  readonly acks = true;
  readonly #socket: WebSocket;
  readonly #queue: SendQueue;
  #closed = false;

  constructor(socket: WebSocket, limits: ConnectionLimits, meter: Meter) {
    this.#socket = socket;
    this.#queue = new SendQueue(limits, meter, "websocket");
  }

  send(delivery: Delivery): boolean {
    if (this.#closed || this.#socket.readyState !== WebSocket.OPEN) return false;
    const frame = delivery.wsFrame;
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

  ready(info: Record<string, unknown>): void {
    this.raw({ type: "ready", ...info });
  }

  raw(frame: Record<string, unknown>): void {
    if (!this.#closed && this.#socket.readyState === WebSocket.OPEN) {
      this.#socket.send(JSON.stringify(frame));
    }
  }

  close(reason: CloseReason): void {
    const { code, detail } = REASONS[reason];
    this.fail(code, reason, detail);
  }

  /** Sends an error frame, then closes with `code`. */
  fail(code: number, error: string, detail: string): void {
    if (this.#closed) return;
    this.raw({ type: "error", error, detail });
    this.#closed = true;
    if (this.#socket.readyState === WebSocket.OPEN) this.#socket.close(code, error);
  }
}

const encoder = new TextEncoder();

class SseSubscriber implements Subscriber {
  readonly acks = false;
  readonly stream: ReadableStream<Uint8Array>;
  readonly #limits: ConnectionLimits;
  readonly #queue: SendQueue;
  readonly #onDone: () => void;
  #controller!: ReadableStreamDefaultController<Uint8Array>;
  #closed = false;

  constructor(limits: ConnectionLimits, meter: Meter, onDone: () => void) {
    this.#onDone = onDone;
    this.#limits = limits;
    this.#queue = new SendQueue(limits, meter, "sse");
    this.stream = new ReadableStream<Uint8Array>({
      start: (controller) => {
        this.#controller = controller;
      },
      cancel: () => {
        this.#closed = true;
        onDone();
      },
    }, new ByteLengthQueuingStrategy({ highWaterMark: limits.maxQueueBytes }));
    this.write(`retry: ${limits.sseRetryMs}\n\n`);
  }

  send(delivery: Delivery): boolean {
    if (this.#closed) return false;
    const frame = encoder.encode(delivery.sseFrame);
    const buffered = Math.max(0, this.#limits.maxQueueBytes - (this.#controller.desiredSize ?? 0));
    if (
      this.#queue.offer(delivery, frame.byteLength, buffered, () => this.#controller.enqueue(frame))
    ) return true;
    this.close("slow-consumer");
    return false;
  }

  ready(info: Record<string, unknown>): void {
    this.write(`event: ready\ndata: ${JSON.stringify({ type: "ready", ...info })}\n\n`);
  }

  write(text: string): void {
    if (!this.#closed) this.#controller.enqueue(encoder.encode(text));
  }

  close(reason: CloseReason): void {
    if (this.#closed) return;
    this.write(
      `event: error\ndata: ${
        JSON.stringify({ type: "error", error: reason, detail: REASONS[reason].detail })
      }\n\n`,
    );
    this.#closed = true;
    this.#controller.close();
    this.#onDone();
  }
}

function badRequest(errors: { pointer: string; detail: string }[]): Response {
  return problemResponse(problem("bad-subscription", "See errors for each parameter", errors));
}

/** Adds the subscription routes to `app`. */
export function subscriptionRoutes(app: Hono, deps: SubscribeDeps): void {
  const { subscriptions, limits, logger } = deps;
  const heartbeats = new Heartbeats(limits.heartbeatMs);

  app.get("/v1/subscribe", (c) => {
    const parsed = parseSubscriptionRequest(new URL(c.req.url).searchParams, deps.defaultTopic);
    if (!parsed.ok) return badRequest(parsed.errors);
    if (c.req.header("upgrade")?.toLowerCase() !== "websocket") {
      return problemResponse(problem("upgrade-required", "Open this URL as a WebSocket"));
    }
    const { socket, response } = Deno.upgradeWebSocket(c.req.raw);
    const meter = new Meter(deps, parsed.request.mode, "websocket");
    const subscriber = new WebSocketSubscriber(socket, limits, meter);
    let subscription: Subscription | undefined;
    let stopBeat = () => {};
    socket.onopen = () => {
      open(parsed.request, subscriber).then((s) => {
        subscription = s;
        if (socket.readyState !== WebSocket.OPEN) return s.close();
        meter.opened();
        stopBeat = heartbeats.add(() => subscriber.raw({ type: "heartbeat" }));
      }, (error) => subscriber.fail(CLOSE_CODES.unavailable, "unavailable", describe(error)));
    };
    socket.onmessage = (event) => {
      const text = typeof event.data === "string" ? event.data : "";
      if (text.length > limits.maxFrameBytes) {
        return subscriber.fail(
          CLOSE_CODES.frameTooLarge,
          "frame-too-large",
          `Frames must be at most ${limits.maxFrameBytes} bytes`,
        );
      }
      const problemText = handleClientFrame(text, subscription);
      if (problemText) subscriber.fail(CLOSE_CODES.badFrame, "bad-frame", problemText);
    };
    socket.onclose = () => {
      stopBeat();
      meter.closed();
      subscription?.close();
    };
    socket.onerror = () => {};
    return response;
  });

  app.get("/v1/stream", async (c) => {
    const parsed = parseSubscriptionRequest(
      new URL(c.req.url).searchParams,
      deps.defaultTopic,
      c.req.header("last-event-id"),
    );
    if (!parsed.ok) return badRequest(parsed.errors);
    let subscription: Subscription | undefined;
    let stopBeat = () => {};
    const meter = new Meter(deps, parsed.request.mode, "sse");
    const subscriber = new SseSubscriber(limits, meter, () => {
      stopBeat();
      meter.closed();
      subscription?.close();
    });
    try {
      subscription = await open(parsed.request, subscriber);
    } catch (error) {
      if (error instanceof LiveTopicError) {
        return badRequest([{ pointer: "/topic", detail: error.message }]);
      }
      return problemResponse(problem("log-unavailable", describe(error)), { "retry-after": "1" });
    }
    meter.opened();
    stopBeat = heartbeats.add(() => subscriber.write(": heartbeat\n\n"));
    return new Response(subscriber.stream, {
      headers: {
        "content-type": "text/event-stream",
        "cache-control": "no-store",
        "x-accel-buffering": "no",
      },
    });
  });

  function open(request: SubscriptionRequest, subscriber: Subscriber): Promise<Subscription> {
    return subscriptions.open(request, subscriber).catch((error) => {
      logger.log("warn", "Subscription could not be opened", {
        error: String(error),
        topic: request.topic,
      });
      throw error;
    });
  }
}

function describe(error: unknown): string {
  return error instanceof LiveTopicError
    ? error.message
    : "The subscription could not be opened; try again";
}

/** Handles one client frame; returns what is wrong with it, if anything. */
function handleClientFrame(
  text: string,
  subscription: Subscription | undefined,
): string | undefined {
  let frame: unknown;
  try {
    frame = JSON.parse(text);
  } catch {
    return "Frames must be JSON text";
  }
  const { type, cursor } = (frame ?? {}) as { type?: unknown; cursor?: unknown };
  if (type !== "ack") return 'The only client frame is {"type":"ack","cursor":"..."}';
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

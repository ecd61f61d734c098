/**
 * `GET /v1/subscribe` (WebSocket) and `GET /v1/stream` (Server-Sent Events):
 * the routes that open subscriptions over either transport. The wire format
 * is in `frames.ts`.
 *
 * @module
 */
import type { Hono } from "hono";
import type { EventRegistry } from "../../events/registry.ts";
import type { Subscriber } from "../../subscribe/delivery.ts";
import { parseSubscriptionRequest, type SubscriptionRequest } from "../../subscribe/request.ts";
import {
  LiveTopicError,
  type Subscription,
  type Subscriptions,
} from "../../subscribe/subscriptions.ts";
import type { Logger } from "../../telemetry/logger.ts";
import type { Metrics } from "../../telemetry/metrics.ts";
import { problem, problemResponse } from "../problem.ts";
import { frameTooLargeDetail, handleClientFrame, OPEN_FAILED_DETAIL } from "./frames.ts";
import { Meter } from "./meter.ts";
import type { QueueLimits } from "./queue.ts";
import { SseSubscriber } from "./sse.ts";
import { WebSocketSubscriber } from "./websocket.ts";

/** Limits of one subscription connection. */
export interface ConnectionLimits extends QueueLimits {
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
  /** Registered event types, for the filter parameters. */
  registry: EventRegistry;
  /** Topic when the query names none. */
  defaultTopic: string;
  /** Per-connection limits. */
  limits: ConnectionLimits;
  /** Structured logger. */
  logger: Logger;
  /** Prometheus metrics. */
  metrics: Metrics;
}

/** `Retry-After` of the problem response when the durable log is unavailable, in seconds. */
const LOG_UNAVAILABLE_RETRY_AFTER_SECONDS = "1";

/** One shared timer drives every connection's heartbeat. */
class Heartbeats {
  readonly #beats = new Set<() => void>();
  readonly #intervalMs: number;
  #timer?: ReturnType<typeof setInterval>;

  constructor(intervalMs: number) {
    this.#intervalMs = intervalMs;
  }

  /** Calls `beat` on every tick until the returned function is called. */
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

function badRequest(errors: { pointer: string; detail: string }[]): Response {
  return problemResponse(problem("bad-subscription", "See errors for each parameter", errors));
}

/** Adds the subscription routes to `app`. */
export function subscriptionRoutes(app: Hono, deps: SubscribeDeps): void {
  const { subscriptions, limits, logger, metrics } = deps;
  const heartbeats = new Heartbeats(limits.heartbeatMs);

  app.get("/v1/subscribe", (c) => {
    const parsed = parseSubscriptionRequest(
      deps.registry,
      new URL(c.req.url).searchParams,
      deps.defaultTopic,
    );
    if (!parsed.ok) return badRequest(parsed.errors);
    if (c.req.header("upgrade")?.toLowerCase() !== "websocket") {
      return problemResponse(problem("upgrade-required", "Open this URL as a WebSocket"));
    }
    const { socket, response } = Deno.upgradeWebSocket(c.req.raw);
    const meter = new Meter(metrics, logger, parsed.request.mode, "websocket");
    const subscriber = new WebSocketSubscriber(socket, limits, meter);
    let subscription: Subscription | undefined;
    let stopBeat = () => {};
    socket.onopen = () => {
      open(parsed.request, subscriber).then((s) => {
        subscription = s;
        if (socket.readyState !== WebSocket.OPEN) return s.close();
        meter.opened();
        stopBeat = heartbeats.add(() => subscriber.heartbeat());
      }, (error) => subscriber.fail("unavailable", describe(error)));
    };
    socket.onmessage = (event) => {
      const text = typeof event.data === "string" ? event.data : "";
      if (text.length > limits.maxFrameBytes) {
        return subscriber.fail("frame-too-large", frameTooLargeDetail(limits.maxFrameBytes));
      }
      const problemText = handleClientFrame(text, subscription);
      if (problemText) subscriber.fail("bad-frame", problemText);
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
      deps.registry,
      new URL(c.req.url).searchParams,
      deps.defaultTopic,
      c.req.header("last-event-id"),
    );
    if (!parsed.ok) return badRequest(parsed.errors);
    let subscription: Subscription | undefined;
    let stopBeat = () => {};
    const meter = new Meter(metrics, logger, parsed.request.mode, "sse");
    const subscriber = new SseSubscriber(limits, limits.sseRetryMs, meter, () => {
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
      return problemResponse(problem("log-unavailable", describe(error)), {
        "retry-after": LOG_UNAVAILABLE_RETRY_AFTER_SECONDS,
      });
    }
    meter.opened();
    stopBeat = heartbeats.add(() => subscriber.heartbeat());
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
  return error instanceof LiveTopicError ? error.message : OPEN_FAILED_DETAIL;
}

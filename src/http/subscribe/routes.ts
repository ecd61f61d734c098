/**
 * `GET /v1/subscribe` (WebSocket) and `GET /v1/stream` (Server-Sent Events):
 * the routes that open subscriptions over either transport. The wire format
 * is in `frames.ts`.
 *
 * @module
 */
import type { Hono } from "hono";
import { selectedProtocol, withoutAccessToken } from "../../auth/credentials.ts";
import type { GatewayAuth } from "../../auth/gateway_auth.ts";
import { type AccessWatch, subscriptionAccess } from "../../auth/subscription_access.ts";
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
import type { SubscriptionAdmission } from "./admission.ts";
import { messageBytes } from "./frame_bytes.ts";
import { frameTooLargeDetail, handleClientFrame, OPEN_FAILED_DETAIL } from "./frames.ts";
import { Meter } from "./meter.ts";
import { DEFAULT_DRAIN_POLL_MS, type QueueLimits, type SendQueueOptions } from "./queue.ts";
import { SseSubscriber } from "./sse.ts";
import { Ticker } from "./ticker.ts";
import { WebSocketSubscriber } from "./websocket.ts";

/** Limits of one subscription connection. */
export interface ConnectionLimits extends QueueLimits {
  /**
   * How long a durable subscription's client may drain nothing while frames
   * are pending before it is disconnected as a slow consumer, in ms.
   */
  stallTimeoutMs: number;
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
  /** Authentication and permissions. */
  auth: GatewayAuth;
  /** Origin, topic and open-subscription checks before any upgrade or stream. */
  admission: SubscriptionAdmission;
}

/** `Retry-After` of the problem response when the durable log is unavailable, in seconds. */
const LOG_UNAVAILABLE_RETRY_AFTER_SECONDS = "1";

function badRequest(errors: { pointer: string; detail: string }[]): Response {
  return problemResponse(problem("bad-subscription", "See errors for each parameter", errors));
}

/** Adds the subscription routes to `app`. */
export function subscriptionRoutes(app: Hono, deps: SubscribeDeps): void {
  const { subscriptions, limits, logger, metrics } = deps;
  const heartbeats = new Ticker(limits.heartbeatMs);
  const drainPolls = new Ticker(DEFAULT_DRAIN_POLL_MS);
  /** Durable subscriptions are paced by the client's credit; live ones have a bounded queue. */
  const queueOptions = (request: SubscriptionRequest): SendQueueOptions => ({
    paced: request.mode !== "live",
    maxQueueEvents: limits.maxQueueEvents,
    maxQueueBytes: limits.maxQueueBytes,
    stallTimeoutMs: limits.stallTimeoutMs,
  });

  app.get("/v1/subscribe", async (c) => {
    const params = new URL(c.req.url).searchParams;
    const parsed = parseSubscriptionRequest(deps.registry, params, deps.defaultTopic);
    if (!parsed.ok) return badRequest(parsed.errors);
    const access = subscriptionAccess(deps.auth, c, parsed.request, params);
    if (!access.ok) return access.response;
    if (c.req.header("upgrade")?.toLowerCase() !== "websocket") {
      return problemResponse(problem("upgrade-required", "Open this URL as a WebSocket"));
    }
    const admitted = await deps.admission.admit(c, access.request.topic);
    if (!admitted.ok) return admitted.response;
    const protocol = selectedProtocol(c.req.raw);
    let upgraded;
    try {
      upgraded = Deno.upgradeWebSocket(c.req.raw, protocol ? { protocol } : {});
    } catch (error) {
      admitted.release();
      throw error;
    }
    const { socket, response } = upgraded;
    const meter = new Meter(metrics, logger, parsed.request.mode, "websocket");
    let subscription: Subscription | undefined;
    let stopBeat = () => {};
    let done = false;
    const subscriber = new WebSocketSubscriber(
      socket,
      queueOptions(parsed.request),
      meter,
      drainPolls,
      () => {
        done = true;
        stopBeat();
        admitted.release();
        watch.stop();
        meter.closed();
        subscription?.close();
      },
    );
    const watch: AccessWatch = access.watch(() => subscriber.close("token-expired"));
    socket.onopen = () => {
      open(access.request, subscriber).then((s) => {
        subscription = s;
        if (done) return s.close();
        meter.opened();
        stopBeat = heartbeats.add(() => subscriber.heartbeat());
      }, (error) => subscriber.fail("unavailable", describe(error)));
    };
    socket.onmessage = (event) => {
      const text = typeof event.data === "string" ? event.data : "";
      if (messageBytes(event.data) > limits.maxFrameBytes) {
        return subscriber.fail("frame-too-large", frameTooLargeDetail(limits.maxFrameBytes));
      }
      const problemText = handleClientFrame(
        text,
        subscription,
        (token) => watch.renew(token, (failure, detail) => subscriber.fail(failure, detail)),
      );
      if (problemText) subscriber.fail("bad-frame", problemText);
    };
    socket.onclose = () => subscriber.socketClosed();
    socket.onerror = () => {};
    return response;
  });

  app.get("/v1/stream", async (c) => {
    const params = withoutAccessToken(new URL(c.req.url).searchParams);
    const parsed = parseSubscriptionRequest(
      deps.registry,
      params,
      deps.defaultTopic,
      c.req.header("last-event-id"),
    );
    if (!parsed.ok) return badRequest(parsed.errors);
    const access = subscriptionAccess(deps.auth, c, parsed.request, params);
    if (!access.ok) return access.response;
    const admitted = await deps.admission.admit(c, access.request.topic);
    if (!admitted.ok) return admitted.response;
    let subscription: Subscription | undefined;
    let stopBeat = () => {};
    let stopWatch = () => {};
    const meter = new Meter(metrics, logger, parsed.request.mode, "sse");
    const subscriber = new SseSubscriber(
      queueOptions(parsed.request),
      limits.sseRetryMs,
      meter,
      drainPolls,
      () => {
        stopBeat();
        stopWatch();
        admitted.release();
        meter.closed();
        subscription?.close();
      },
    );
    try {
      subscription = await open(access.request, subscriber);
    } catch (error) {
      admitted.release();
      if (error instanceof LiveTopicError) {
        return badRequest([{ pointer: "/topic", detail: error.message }]);
      }
      return problemResponse(problem("log-unavailable", describe(error)), {
        "retry-after": LOG_UNAVAILABLE_RETRY_AFTER_SECONDS,
      });
    }
    meter.opened();
    stopBeat = heartbeats.add(() => subscriber.heartbeat());
    stopWatch = access.watch(() => subscriber.close("token-expired")).stop;
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

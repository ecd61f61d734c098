/**
 * Prometheus metrics (prom-client): one registry, one name prefix, base units,
 * low-cardinality labels only (never customer or event ids). The process's
 * own metrics come from `process_metrics.ts`.
 *
 * @module
 */
import client from "prom-client";
import { DeliveryMetrics } from "./delivery_metrics.ts";
import { ProcessMetrics } from "./process_metrics.ts";

/** Prefix of every metric name. */
export const METRIC_PREFIX = "tastesync_";

/** Result label of a publish attempt. */
export type PublishResult =
  | "accepted"
  | "duplicate"
  | "rejected"
  | "conflict"
  | "unavailable"
  | "error";
/** Reason label of a failed publish. */
export type PublishErrorReason =
  | "malformed_json"
  | "too_large"
  | "unsupported_media_type"
  | "validation"
  | "conflict"
  | "log_unavailable"
  | "forbidden"
  | "internal";

const LATENCY_BUCKETS = [
  0.0005,
  0.001,
  0.0025,
  0.005,
  0.01,
  0.025,
  0.05,
  0.1,
  0.25,
  0.5,
  1,
  2.5,
  5,
];

/** The gateway's metrics. */
export class Metrics {
  /** The registry `/metrics` renders. */
  readonly registry = new client.Registry();
  #collect: () => Promise<void> = () => Promise.resolve();
  /** Publish attempts by event type and result. */
  readonly published = new client.Counter({
    name: `${METRIC_PREFIX}events_published_total`,
    help: "Publish attempts, by event type and result.",
    labelNames: ["event_type", "result"] as const,
    registers: [this.registry],
  });
  /** Failed publishes by reason. */
  readonly publishErrors = new client.Counter({
    name: `${METRIC_PREFIX}publish_errors_total`,
    help: "Publishes that failed, by reason.",
    labelNames: ["reason"] as const,
    registers: [this.registry],
  });
  /** Time from request to durable acknowledgement. */
  readonly publishDuration = new client.Histogram({
    name: `${METRIC_PREFIX}publish_duration_seconds`,
    help: "Time from the publish request to the durable log's acknowledgement.",
    labelNames: ["backend"] as const,
    buckets: LATENCY_BUCKETS,
    registers: [this.registry],
  });
  /** Events sent to subscribers, and their lag (plain counts per label set: the fan-out's hot path). */
  readonly deliveries = new DeliveryMetrics(this.registry, {
    deliveredName: `${METRIC_PREFIX}events_delivered_total`,
    deliveredHelp: "Events sent to subscribers, by mode and transport.",
    lagName: `${METRIC_PREFIX}delivery_lag_seconds`,
    lagHelp: "Time from the event's timestamp to its send to a subscriber.",
    buckets: LATENCY_BUCKETS,
  });
  /** Connected subscribers. */
  readonly subscribers = new client.Gauge({
    name: `${METRIC_PREFIX}subscribers`,
    help: "Connected subscribers, by mode and transport.",
    labelNames: ["mode", "transport"] as const,
    registers: [this.registry],
  });
  /** Subscribers disconnected as slow consumers: a durable client stalled, a live queue overflowed. */
  readonly slowConsumers = new client.Counter({
    name: `${METRIC_PREFIX}slow_consumer_disconnects_total`,
    help: "Subscribers disconnected as slow consumers: a durable client that stopped reading " +
      "for the stall timeout, or a live send queue that overflowed.",
    labelNames: ["transport"] as const,
    registers: [this.registry],
  });
  /** Publishes answered as duplicates. */
  readonly dedupHits = new client.Counter({
    name: `${METRIC_PREFIX}dedup_hits_total`,
    help: "Publishes of an event id already in the log (answered as duplicates).",
    registers: [this.registry],
  });
  /** Events the live mirror dropped. */
  readonly mirrorFailures = new client.Counter({
    name: `${METRIC_PREFIX}nats_mirror_failures_total`,
    help: "Events that could not be mirrored to the live bus.",
    registers: [this.registry],
  });
  /** Refused authentications and authorizations, by reason (never by principal or token). */
  readonly authFailures = new client.Counter({
    name: `${METRIC_PREFIX}auth_failures_total`,
    help: "Requests, frames and batch items refused for their credentials or permissions, " +
      "by reason.",
    labelNames: ["reason"] as const,
    registers: [this.registry],
  });
  /** Requests refused by a limit, by kind (never by principal or address). */
  readonly rateLimited = new client.Counter({
    name: `${METRIC_PREFIX}rate_limited_total`,
    help: "Requests refused by a limit, by kind: publish (a principal's publish rate, 429), " +
      "subscriptions (a principal's open subscriptions, 429), connections (the process's " +
      "connection cap, 503).",
    labelNames: ["kind"] as const,
    registers: [this.registry],
  });
  /** Times the HTTP listener was reopened, by reason. */
  readonly listenerRestarts = new client.Counter({
    name: `${METRIC_PREFIX}http_listener_restarts_total`,
    help: "Times the HTTP listener was closed and reopened, closing idle connections: " +
      "accept_failed (the accept loop failed, e.g. out of file descriptors) or saturated " +
      "(at the connection cap for http.saturation_timeout).",
    labelNames: ["reason"] as const,
    registers: [this.registry],
  });
  /** Client connections open, as estimated from the process's file descriptors. */
  readonly connections = new client.Gauge({
    name: `${METRIC_PREFIX}http_connections`,
    help: "Client connections open: file descriptors open beyond those open before the " +
      "listener started (Linux only).",
    registers: [this.registry],
  });
  /** Records behind the end of the log, per consumer group and partition owned here. */
  readonly consumerLag = new client.Gauge({
    name: `${METRIC_PREFIX}kafka_consumer_lag`,
    help: "Records between a consumer group's committed offset and the end of the partition.",
    labelNames: ["group", "partition"] as const,
    registers: [this.registry],
  });

  /** Memory, heap, CPU, file descriptors and event-loop lag of this process. */
  readonly #process = new ProcessMetrics(this.registry, METRIC_PREFIX);

  /** Sets what `collect` reports for subscribers and consumer lag at each scrape. */
  onScrape(collect: () => Promise<void>): void {
    this.#collect = collect;
  }

  /** The Prometheus text exposition. */
  async render(): Promise<{ contentType: string; body: string }> {
    await Promise.all([this.#collect(), this.#process.update()]);
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }
}

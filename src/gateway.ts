/**
 * Builds the gateway from settings: picks the log and bus adapters, wires the
 * publisher and the HTTP app, and knows how to close them in order.
 *
 * @module
 */
import type { Hono } from "hono";
import { hostname } from "node:os";
import { createGatewayAuth } from "./auth/gateway_auth.ts";
import { InProcessBus, type LiveBus } from "./bus/live_bus.ts";
import { NatsBus } from "./bus/nats_bus.ts";
import { type Config, kafkaBrokers } from "./config.ts";
import type { EventTypeDefinition } from "./events/event_type.ts";
import { EVENT_TYPES, EventRegistry } from "./events/registry.ts";
import { createApp } from "./http/app.ts";
import { createClientLimits } from "./http/client_limits.ts";
import type { ConnectionCap } from "./http/connection_cap.ts";
import { metricsApp } from "./http/metrics_app.ts";
import { kafkaSecurity, natsSecurity } from "./secrets.ts";
import { EmbeddedLog } from "./log/embedded/embedded_log.ts";
import type { EventLog } from "./log/event_log.ts";
import { KafkaLog } from "./log/kafka/kafka_log.ts";
import { subscriptionRoutes } from "./http/subscribe/routes.ts";
import { Publisher } from "./publish/publisher.ts";
import { Subscriptions } from "./subscribe/subscriptions.ts";
import type { Logger } from "./telemetry/logger.ts";
import { Metrics } from "./telemetry/metrics.ts";

/** A built gateway. */
export interface Gateway {
  /** The HTTP app. */
  app: Hono;
  /** The app of `metrics.listen`: `/metrics` only, without authentication. */
  metricsApp: Hono;
  /** The durable log in use. */
  log: EventLog;
  /** The live bus in use. */
  bus: LiveBus;
  /** Subscriptions of this process. */
  subscriptions: Subscriptions;
  /** The process's connection cap; the server starts it once it listens. */
  connectionCap: ConnectionCap;
  /** Prometheus metrics. */
  metrics: Metrics;
  /** Flushes in-flight appends, then disconnects the log and the bus. */
  close(): Promise<void>;
}

/** The durable log the settings ask for: Kafka when brokers are set, else embedded. */
export function createEventLog(config: Config, logger: Logger): EventLog {
  const brokers = kafkaBrokers(config);
  if (brokers.length === 0) {
    return new EmbeddedLog({
      dataDir: config.embedded.data_dir,
      partitions: config.kafka.partitions,
      dedupWindowMs: config.dedup.window,
      sync: config.embedded.sync,
    });
  }
  const k = config.kafka;
  return new KafkaLog({
    brokers,
    clientId: k.client_id,
    topic: k.topic,
    partitions: k.partitions,
    replicationFactor: k.replication_factor,
    lanes: k.lanes,
    maxBatch: k.max_batch,
    lingerMs: k.linger_ms,
    retries: k.retries,
    initialRetryMs: k.initial_retry_ms,
    connectionTimeoutMs: k.connection_timeout_ms,
    requestTimeoutMs: k.request_timeout_ms,
    publishTimeoutMs: k.publish_timeout_ms,
    dedupWindowMs: config.dedup.window,
    transactionalId: k.transactional_id ?? defaultTransactionalId(config),
    ...kafkaSecurity(config),
  }, logger);
}

/**
 * `<client_id>-<hostname>-<http.port>`: no two live processes share it (they
 * cannot listen on the same host and port), and a process restarted in the
 * same place gets the same one back, so it fences its predecessor's
 * transactions at once instead of waiting for them to time out. On port 0
 * (any free port) a random suffix stands in for the port.
 */
export function defaultTransactionalId(config: Config): string {
  const place = config.http.port === 0 ? crypto.randomUUID() : config.http.port;
  return `${config.kafka.client_id}-${hostname()}-${place}`;
}

/** The live bus the settings ask for: NATS when a URL is set, else in-process. */
export function createLiveBus(config: Config, logger: Logger): LiveBus {
  if (!config.nats.url) return new InProcessBus();
  return new NatsBus(
    { url: config.nats.url, name: config.kafka.client_id, ...natsSecurity(config) },
    logger,
  );
}

/**
 * Builds the gateway for the event types `types` (every built-in type by
 * default).
 *
 * @throws {ConfigError} when the API keys file or a JWKS file cannot be read.
 */
export function createGateway(
  config: Config,
  logger: Logger,
  types: readonly EventTypeDefinition[] = EVENT_TYPES,
): Gateway {
  const registry = new EventRegistry(types);
  const log = createEventLog(config, logger);
  const bus = createLiveBus(config, logger);
  const metrics = new Metrics();
  const auth = createGatewayAuth(config.auth, registry, logger, metrics);
  const clientLimits = createClientLimits(config, log, logger, metrics);
  const publisher = new Publisher(log, bus, {
    topic: config.kafka.topic,
    subjectPrefix: config.nats.subject_prefix,
    onMirrorDropped: () => metrics.mirrorFailures.inc(),
    mirror: config.nats.mirror,
  });
  const app = createApp({
    publisher,
    registry,
    log,
    bus,
    logger,
    metrics,
    auth,
    publishLimit: clientLimits.publishLimit,
    origins: clientLimits.origins,
    connectionCap: clientLimits.connectionCap,
    bodyLimitBytes: config.http.body_limit_bytes,
    batchBodyLimitBytes: config.http.batch_body_limit_bytes,
    documents: {
      topic: config.kafka.topic,
      partitions: config.kafka.partitions,
      subjectPrefix: config.nats.subject_prefix,
    },
  });
  const s = config.subscriptions;
  const subscriptions = new Subscriptions(log, bus, {
    liveTopic: config.kafka.topic,
    subjectPrefix: config.nats.subject_prefix,
    group: {
      ackTimeoutMs: s.ack_timeout,
      maxInFlight: s.max_queue_events,
      dedupWindowMs: config.dedup.window,
    },
  }, logger);
  metrics.onScrape(async () => {
    metrics.consumerLag.reset();
    for (const { group, partition, lag } of await subscriptions.consumerLag()) {
      metrics.consumerLag.set({ group, partition: String(partition) }, lag);
    }
  });
  subscriptionRoutes(app, {
    registry,
    subscriptions,
    defaultTopic: config.kafka.topic,
    limits: {
      maxQueueEvents: s.max_queue_events,
      maxQueueBytes: s.max_queue_bytes,
      stallTimeoutMs: s.stall_timeout,
      maxFrameBytes: s.max_frame_bytes,
      heartbeatMs: s.heartbeat,
      sseRetryMs: s.sse_retry,
    },
    logger,
    metrics,
    auth,
    admission: clientLimits.admission,
  });
  return {
    app,
    metricsApp: metricsApp(metrics),
    log,
    bus,
    subscriptions,
    connectionCap: clientLimits.connectionCap,
    metrics,
    async close() {
      await log.close();
      await bus.close();
    },
  };
}

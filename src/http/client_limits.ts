/**
 * The limits the HTTP layer puts on clients, built once from the settings:
 * the publish rate and open subscriptions per principal, the allowed browser
 * origins, the topics that may be subscribed, and the process's connection
 * cap. All are kept in this process's memory: with several gateways, each
 * applies them on its own.
 *
 * @module
 */
import type { Config } from "../config.ts";
import type { EventLog } from "../log/event_log.ts";
import { TopicCatalog } from "../subscribe/topic_catalog.ts";
import { ProcFileDescriptors } from "../telemetry/file_descriptors.ts";
import type { Logger } from "../telemetry/logger.ts";
import type { Metrics } from "../telemetry/metrics.ts";
import { ConnectionCap } from "./connection_cap.ts";
import { PublishLimit } from "./limits/publish_limit.ts";
import { SubscriptionSlots } from "./limits/subscription_slots.ts";
import { AllowedOrigins } from "./origins.ts";
import { SubscriptionAdmission } from "./subscribe/admission.ts";

/** The client limits of one gateway process. */
export interface ClientLimits {
  /** Publishes per principal. */
  publishLimit: PublishLimit;
  /** Browser origins allowed besides the gateway's own. */
  origins: AllowedOrigins;
  /** Checks before a subscription opens. */
  admission: SubscriptionAdmission;
  /** Connections of the process. */
  connectionCap: ConnectionCap;
}

/** The limits `config` sets, for subscriptions to the topics of `log`. */
export function createClientLimits(
  config: Config,
  log: Pick<EventLog, "hasTopic">,
  logger: Logger,
  metrics: Metrics,
): ClientLimits {
  const limits = config.auth.limits;
  const origins = new AllowedOrigins(config.http.allowed_origins);
  return {
    publishLimit: new PublishLimit({
      perSecond: limits.publish_per_second,
      burst: limits.publish_burst,
      logger,
      metrics,
    }),
    origins,
    admission: new SubscriptionAdmission({
      origins,
      topics: new TopicCatalog(log, [config.kafka.topic, ...config.subscriptions.topics]),
      slots: new SubscriptionSlots(limits.subscriptions),
      logger,
      metrics,
    }),
    connectionCap: new ConnectionCap({
      fds: new ProcFileDescriptors(),
      maxConnections: config.http.max_connections,
      saturationTimeoutMs: config.http.saturation_timeout,
      logger,
      metrics,
    }),
  };
}

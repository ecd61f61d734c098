/**
 * The metrics and logs of one subscription connection.
 *
 * @module
 */
import type { Delivery } from "../../subscribe/delivery.ts";
import type { Logger } from "../../telemetry/logger.ts";
import type { Metrics } from "../../telemetry/metrics.ts";
import type { DeliveryTally } from "../../telemetry/delivery_metrics.ts";

/** The transport of a subscription, as a metric label. */
export type Transport = "websocket" | "sse";

/** Counts deliveries and disconnects of one subscription in the metrics. */
export class Meter {
  readonly #metrics: Metrics;
  readonly #logger: Logger;
  readonly #labels: { mode: string; transport: Transport };
  readonly #deliveries: DeliveryTally;
  #open = false;

  /** A meter for a subscription in `mode` over `transport`. */
  constructor(metrics: Metrics, logger: Logger, mode: string, transport: Transport) {
    this.#metrics = metrics;
    this.#logger = logger;
    this.#labels = { mode, transport };
    this.#deliveries = metrics.deliveries.tally(this.#labels);
  }

  /** The transport of the subscription. */
  get transport(): Transport {
    return this.#labels.transport;
  }

  /** Counts the subscription as open. */
  opened(): void {
    this.#open = true;
    this.#metrics.subscribers.inc(this.#labels);
  }

  /** Counts the subscription as closed, once, if it was opened. */
  closed(): void {
    if (!this.#open) return;
    this.#open = false;
    this.#metrics.subscribers.dec(this.#labels);
  }

  /** Counts `delivery` as sent and observes its lag. */
  delivered(delivery: Delivery): void {
    if (this.#logger.enabled("debug")) {
      this.#logger.log("debug", "Delivery", {
        event_id: delivery.envelope.event_id,
        ...this.#labels,
      });
    }
    this.#deliveries.record((Date.now() - delivery.timestampMs) / 1000);
  }

  /**
   * Counts and logs a slow consumer being disconnected: its bounded (live)
   * queue overflowed, or its paced (durable) client stalled.
   */
  slow(why: "overflow" | "stalled"): void {
    this.#metrics.slowConsumers.inc({ transport: this.#labels.transport });
    this.#logger.log("warn", "Slow consumer disconnected", { ...this.#labels, why });
  }

  /** Logs an event skipped because the transport cannot carry it. */
  unsendable(delivery: Delivery, error: Error): void {
    this.#logger.log("warn", "Skipped an event the transport cannot carry", {
      event_id: delivery.envelope.event_id,
      error: error.message,
      ...this.#labels,
    });
  }
}

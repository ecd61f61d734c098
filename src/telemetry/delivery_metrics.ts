/**
 * The metrics of the subscription hot path: deliveries counted, and the lag
 * from an event's timestamp to its send. One event fanned out to 1,000
 * subscribers is 1,000 deliveries, and prom-client hashes the labels of every
 * `inc` and `observe`: that was a sixth of a fan-out's CPU. Here each label
 * set has one {@linkcode DeliveryTally}, looked up once per subscription,
 * that counts in plain numbers; the registry reads the tallies at each scrape
 * and writes them as prom-client's own counter and histogram would.
 *
 * @module
 */
import type client from "prom-client";

/** Labels of a delivery. */
export interface DeliveryLabels {
  /** Subscription mode, e.g. `durable`. */
  mode: string;
  /** `websocket` or `sse`. */
  transport: string;
}

/** Names, help texts and lag buckets of {@linkcode DeliveryMetrics}. */
export interface DeliveryMetricsOptions {
  /** Name of the counter of deliveries (ends in `_total`). */
  deliveredName: string;
  /** Help of the counter. */
  deliveredHelp: string;
  /** Name of the lag histogram. */
  lagName: string;
  /** Help of the histogram. */
  lagHelp: string;
  /** Upper bounds of the histogram's buckets, in seconds, ascending (`+Inf` is added). */
  buckets: readonly number[];
}

/** The deliveries of one label set. */
export class DeliveryTally {
  /** The label set counted. */
  readonly labels: Readonly<DeliveryLabels>;
  /** Deliveries counted. */
  delivered = 0;
  /** Lags observed. */
  lagCount = 0;
  /** Sum of the lags observed, in seconds. */
  lagSum = 0;
  /** Lags observed per bucket, not cumulative; the last one is `+Inf`. */
  readonly lagBuckets: number[];
  readonly #bounds: readonly number[];

  /** An empty tally of `labels` with the histogram's `bounds`. */
  constructor(labels: DeliveryLabels, bounds: readonly number[]) {
    this.labels = { ...labels };
    this.#bounds = bounds;
    this.lagBuckets = new Array(bounds.length + 1).fill(0);
  }

  /** Counts one delivery and, when it is known and not negative, its lag in seconds. */
  record(lagSeconds?: number): void {
    this.delivered++;
    if (lagSeconds === undefined || !(lagSeconds >= 0)) return;
    this.lagCount++;
    this.lagSum += lagSeconds;
    let i = 0;
    while (i < this.#bounds.length && lagSeconds > this.#bounds[i]) i++;
    this.lagBuckets[i]++;
  }
}

/** One sample line of a metric, as prom-client's registry writes it. */
interface Sample {
  metricName: string;
  labels: Record<string, string | number>;
  value: number;
}

/**
 * `tastesync_events_delivered_total` and `tastesync_delivery_lag_seconds`,
 * kept in {@linkcode DeliveryTally}s and registered in a prom-client registry.
 */
export class DeliveryMetrics {
  readonly #options: DeliveryMetricsOptions;
  readonly #tallies = new Map<string, DeliveryTally>();

  /** Registers both metrics in `registry`. */
  constructor(registry: client.Registry, options: DeliveryMetricsOptions) {
    this.#options = options;
    registry.registerMetric(
      scraped(
        options.deliveredName,
        options.deliveredHelp,
        "counter",
        () => this.#counterSamples(),
      ),
    );
    registry.registerMetric(
      scraped(options.lagName, options.lagHelp, "histogram", () => this.#lagSamples()),
    );
  }

  /** The tally of `labels`, made on first use; keep it rather than asking per delivery. */
  tally(labels: DeliveryLabels): DeliveryTally {
    const key = `${labels.mode}\u0000${labels.transport}`;
    let tally = this.#tallies.get(key);
    if (!tally) {
      tally = new DeliveryTally(labels, this.#options.buckets);
      this.#tallies.set(key, tally);
    }
    return tally;
  }

  #counterSamples(): Sample[] {
    return [...this.#tallies.values()].map((t) => ({
      metricName: this.#options.deliveredName,
      labels: { ...t.labels },
      value: t.delivered,
    }));
  }

  #lagSamples(): Sample[] {
    const { lagName, buckets } = this.#options;
    const samples: Sample[] = [];
    for (const t of this.#tallies.values()) {
      let cumulative = 0;
      t.lagBuckets.forEach((count, i) => {
        cumulative += count;
        samples.push({
          metricName: `${lagName}_bucket`,
          labels: { le: i < buckets.length ? buckets[i] : "+Inf", ...t.labels },
          value: cumulative,
        });
      });
      samples.push({ metricName: `${lagName}_sum`, labels: { ...t.labels }, value: t.lagSum });
      samples.push({ metricName: `${lagName}_count`, labels: { ...t.labels }, value: t.lagCount });
    }
    return samples;
  }
}

/**
 * A metric the registry renders from `samples` at each scrape: prom-client's
 * registry needs only its name, help, type and `get()` (it is typed as one of
 * prom-client's own classes, hence the cast).
 */
function scraped(
  name: string,
  help: string,
  type: "counter" | "histogram",
  samples: () => Sample[],
): client.Metric {
  const header = { name, help, type, aggregator: "sum" };
  return {
    ...header,
    get: () => Promise.resolve({ ...header, values: samples() }),
  } as unknown as client.Metric;
}

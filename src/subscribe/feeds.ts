/**
 * Feeds read events once and fan them out to the subscribers attached to them:
 * a durable feed per start position (shared by every `from=latest` subscriber
 * of a topic), and a live feed on the live bus.
 *
 * @module
 */
import type { LiveBus } from "../bus/live_bus.ts";
import type { Envelope } from "../events/envelope.ts";
import type { EventLog, LogReader, StoredRecord } from "../log/event_log.ts";
import type { Logger } from "../telemetry/logger.ts";
import { inSpanSync, startConsumerSpan, withContext } from "../telemetry/tracing.ts";
import { encodeCursor } from "./cursor.ts";
import { Delivery, type Subscriber } from "./delivery.ts";
import type { EventFilter } from "./filter.ts";

/** Parses a stored envelope; records that are not envelopes are skipped. */
export function parseEnvelope(json: string): Envelope<Record<string, unknown>> | undefined {
  try {
    const value = JSON.parse(json);
    return typeof value?.event_id === "string" && typeof value?.event_type === "string"
      ? value
      : undefined;
  } catch {
    return undefined;
  }
}

/** Span attributes of a record read from the log. */
export function readAttributes(record: StoredRecord): Record<string, string> {
  return {
    "messaging.destination.name": record.topic,
    "messaging.destination.partition.id": String(record.partition),
    "messaging.kafka.offset": String(record.offset),
  };
}

/** Subscribers attached to one feed, each with its filter. */
abstract class Feed {
  readonly #subscribers = new Map<Subscriber, EventFilter>();
  readonly #onEmpty: () => void;
  #stopped = false;

  constructor(onEmpty: () => void) {
    this.#onEmpty = onEmpty;
  }

  /** Starts sending matching events to `subscriber`; false when the feed has already stopped. */
  attach(subscriber: Subscriber, filter: EventFilter): boolean {
    if (this.#stopped) return false;
    this.#subscribers.set(subscriber, filter);
    return true;
  }

  /** Stops sending to `subscriber`; the last one out stops the feed. */
  detach(subscriber: Subscriber): void {
    if (!this.#subscribers.delete(subscriber) || this.#subscribers.size > 0) return;
    this.#stopped = true;
    this.#onEmpty();
    void this.stop();
  }

  /** Releases the feed's reader. */
  protected abstract stop(): Promise<void>;

  protected fanOut(delivery: Delivery): void {
    inSpanSync("subscription.filter", (span) => {
      let matched = 0;
      for (const [subscriber, filter] of this.#subscribers) {
        if (!filter(delivery.envelope)) continue;
        matched++;
        if (!subscriber.send(delivery)) this.detach(subscriber);
      }
      span.setAttributes({
        "tastesync.subscribers": this.#subscribers.size,
        "tastesync.matched": matched,
      });
    });
  }
}

/** Every event of a topic from a start position, to every attached subscriber (no group). */
export class DurableFeed extends Feed {
  readonly #topic: string;
  readonly #logger: Logger;
  readonly #next = new Map<number, bigint>();
  #reader?: LogReader;

  private constructor(topic: string, logger: Logger, onEmpty: () => void) {
    super(onEmpty);
    this.#topic = topic;
    this.#logger = logger;
  }

  /**
   * Opens a feed of `topic` from `from` (next offset per partition; missing
   * partitions start at their end). Resolves once positioned: every event
   * appended afterwards will be delivered.
   */
  static async open(
    log: EventLog,
    topic: string,
    from: ReadonlyMap<number, bigint>,
    logger: Logger,
    onEmpty: () => void,
  ): Promise<DurableFeed> {
    const feed = new DurableFeed(topic, logger, onEmpty);
    for (const { partition, high } of await log.offsets(topic)) {
      feed.#next.set(partition, from.get(partition) ?? high);
    }
    feed.#reader = await log.read(topic, feed.#next, (records) => feed.#deliver(records));
    return feed;
  }

  /** Closes the log reader. */
  protected async stop(): Promise<void> {
    await this.#reader?.close();
  }

  /** The cursor of the feed's current position: resuming there misses nothing read since. */
  cursor(): string {
    return encodeCursor({ topic: this.#topic, next: this.#next });
  }

  #deliver(records: StoredRecord[]): void {
    for (const record of records) {
      this.#next.set(record.partition, record.offset + 1n);
      const envelope = parseEnvelope(record.value);
      if (!envelope) {
        this.#logger.log("warn", "Skipped a record that is not an event envelope", {
          topic: this.#topic,
          partition: record.partition,
          offset: String(record.offset),
        });
        continue;
      }
      const cursor = encodeCursor({ topic: this.#topic, next: this.#next });
      const position = { partition: record.partition, offset: record.offset };
      const read = startConsumerSpan("event_log.read", record.headers, readAttributes(record));
      try {
        const delivery = new Delivery(envelope, record.value, cursor, position, read.headers);
        withContext(read.context, () => this.fanOut(delivery));
      } finally {
        read.span.end();
      }
    }
  }
}

/** Events from the live bus: lowest latency, at-most-once, no replay. */
export class LiveFeed extends Feed {
  #unsubscribe?: () => void;

  /** Subscribes to `pattern` on `bus`; resolves once the subscription is active. */
  static async open(bus: LiveBus, pattern: string, onEmpty: () => void): Promise<LiveFeed> {
    const feed = new LiveFeed(onEmpty);
    feed.#unsubscribe = await bus.subscribe(pattern, (message) => {
      const envelope = parseEnvelope(message.data);
      if (!envelope) return;
      const received = startConsumerSpan("live_bus.receive", message.headers, {
        "messaging.destination.name": message.subject,
      });
      try {
        const delivery = new Delivery(
          envelope,
          message.data,
          undefined,
          undefined,
          received.headers,
        );
        withContext(received.context, () => feed.fanOut(delivery));
      } finally {
        received.span.end();
      }
    });
    return feed;
  }

  /** Unsubscribes from the live bus. */
  protected stop(): Promise<void> {
    this.#unsubscribe?.();
    return Promise.resolve();
  }
}

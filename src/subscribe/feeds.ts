/**
 * Feeds read events once and fan them out to the subscribers attached to them:
 * a durable feed per start position (shared by every `from=latest` subscriber
 * of a topic), paced by its subscribers' credit, and a live feed on the live
 * bus, which never waits (its subscribers' queues are bounded instead).
 *
 * @module
 */
import { DURABLE_HEADER, type LiveBus } from "../bus/live_bus.ts";
import type { Envelope } from "../events/envelope.ts";
import type { EventLog, LogReader, StoredRecord } from "../log/event_log.ts";
import type { Logger } from "../telemetry/logger.ts";
import { inSpanSync, startConsumerSpan } from "../telemetry/tracing.ts";
import { encodeCursor } from "./cursor.ts";
import { Delivery, type Subscriber } from "./delivery.ts";
import { RecentIds } from "./recent_ids.ts";
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

/**
 * Subscribers attached to one feed, each with its filter. A paced feed tracks
 * which subscribers have no credit, and hears when the last of them drains or
 * leaves.
 */
abstract class Feed {
  readonly #subscribers = new Map<Subscriber, EventFilter>();
  /** Subscribers without credit (paced feeds only). */
  readonly #blocked = new Set<Subscriber>();
  readonly #paced: boolean;
  readonly #onEmpty: () => void;
  #stopped = false;

  constructor(paced: boolean, onEmpty: () => void) {
    this.#paced = paced;
    this.#onEmpty = onEmpty;
  }

  /** Starts sending matching events to `subscriber`; false when the feed has already stopped. */
  attach(subscriber: Subscriber, filter: EventFilter): boolean {
    if (this.#stopped) return false;
    this.#subscribers.set(subscriber, filter);
    if (this.#paced) {
      subscriber.onDrain(() => this.#unblock(subscriber));
      if (!subscriber.writable) this.#block(subscriber);
    }
    return true;
  }

  /** Stops sending to `subscriber`; the last one out stops the feed. */
  detach(subscriber: Subscriber): void {
    if (!this.#subscribers.delete(subscriber)) return;
    if (this.#subscribers.size > 0) {
      this.#unblock(subscriber);
      return;
    }
    this.#blocked.clear();
    this.#stopped = true;
    this.#onEmpty();
    void this.stop();
  }

  /** Stops a feed that has no subscriber (one opened for a client that left meanwhile). */
  close(): Promise<void> {
    if (this.#subscribers.size > 0 || this.#stopped) return Promise.resolve();
    this.#stopped = true;
    this.#onEmpty();
    return this.stop();
  }

  /** Whether the feed has stopped (its last subscriber left). */
  protected get stopped(): boolean {
    return this.#stopped;
  }

  /** Whether every subscriber has credit, so the feed may send. */
  protected get writable(): boolean {
    return this.#blocked.size === 0;
  }

  /**
   * A subscriber just ran out of credit: true when the feed let it go (see
   * {@linkcode DurableFeed}'s `onBehind`) rather than waiting for it.
   */
  protected leaveBehind(_subscriber: Subscriber): boolean {
    return false;
  }

  /** Releases the feed's reader. */
  protected abstract stop(): Promise<void>;

  /** Called once every subscriber has credit again (paced feeds only). */
  protected drained(): void {}

  protected fanOut(delivery: Delivery): void {
    inSpanSync("subscription.filter", delivery.context, ({ span }) => {
      let matched = 0;
      for (const [subscriber, filter] of this.#subscribers) {
        if (!filter(delivery.envelope)) continue;
        matched++;
        if (!subscriber.send(delivery)) this.detach(subscriber);
        else if (this.#paced && !subscriber.writable && !this.leaveBehind(subscriber)) {
          this.#block(subscriber);
        }
      }
      span.setAttributes({
        "tastesync.subscribers": this.#subscribers.size,
        "tastesync.matched": matched,
      });
    });
  }

  /**
   * Holds the feed back until `subscriber` drains, if it is still attached: a
   * subscriber can leave inside its own send (an SSE stream cancelled as the
   * frame goes out), and one held after it left would stall every other
   * subscriber of the feed for good.
   */
  #block(subscriber: Subscriber): void {
    if (this.#subscribers.has(subscriber)) this.#blocked.add(subscriber);
  }

  #unblock(subscriber: Subscriber): void {
    if (this.#blocked.delete(subscriber) && this.#blocked.size === 0 && !this.#stopped) {
      this.drained();
    }
  }
}

/**
 * Hands over a subscriber that a shared feed left behind, with the position
 * after the last event it was sent (next offset per partition), so it can go
 * on from there at its own pace.
 */
export type LeftBehind = (subscriber: Subscriber, next: ReadonlyMap<number, bigint>) => void;

/**
 * Every event of a topic from a start position, to every attached subscriber
 * (no group). By default at the pace of the slowest: while a subscriber has no
 * credit the feed holds the records already read and pauses the log reader, so
 * memory stays bounded whatever the backlog. A feed shared by unrelated
 * clients is opened with `onBehind` instead: a subscriber that runs out of
 * credit is detached and handed over with its position, and the others never
 * wait for it.
 */
export class DurableFeed extends Feed {
  readonly #topic: string;
  readonly #logger: Logger;
  readonly #onBehind?: LeftBehind;
  /** The next offset of each partition after the last record fanned out. */
  readonly #next = new Map<number, bigint>();
  /** Records read and not yet fanned out, oldest first from `#head`. */
  #backlog: StoredRecord[] = [];
  #head = 0;
  #flushing = false;
  #paused = false;
  #reader?: LogReader;

  private constructor(
    topic: string,
    logger: Logger,
    onEmpty: () => void,
    onBehind: LeftBehind | undefined,
  ) {
    super(true, onEmpty);
    this.#topic = topic;
    this.#logger = logger;
    this.#onBehind = onBehind;
  }

  /**
   * Opens a feed of `topic` from `from` (next offset per partition; missing
   * partitions start at their end). Resolves once positioned: every event
   * appended afterwards will be delivered. With `onBehind`, a subscriber out
   * of credit is handed to it instead of holding the feed back.
   */
  static async open(
    log: EventLog,
    topic: string,
    from: ReadonlyMap<number, bigint>,
    logger: Logger,
    onEmpty: () => void,
    onBehind?: LeftBehind,
  ): Promise<DurableFeed> {
    const feed = new DurableFeed(topic, logger, onEmpty, onBehind);
    for (const { partition, high } of await log.offsets(topic)) {
      feed.#next.set(partition, from.get(partition) ?? high);
    }
    const reader = await log.read(topic, feed.#next, (records) => feed.#deliver(records));
    feed.#reader = reader;
    if (feed.#paused) feed.#next.forEach((_, p) => reader.pause(p));
    return feed;
  }

  /** Closes the log reader. */
  protected async stop(): Promise<void> {
    this.#backlog = [];
    this.#head = 0;
    await this.#reader?.close();
  }

  /** Sends on from the backlog, and reads again once it is empty. */
  protected override drained(): void {
    this.#flush();
  }

  protected override leaveBehind(subscriber: Subscriber): boolean {
    if (!this.#onBehind) return false;
    const next = new Map(this.#next);
    this.detach(subscriber);
    this.#onBehind(subscriber, next);
    return true;
  }

  /** The cursor of the feed's current position: resuming there misses nothing sent since. */
  cursor(): string {
    return encodeCursor({ topic: this.#topic, next: this.#next });
  }

  #deliver(records: StoredRecord[]): void {
    if (this.stopped) return;
    for (const record of records) this.#backlog.push(record);
    this.#flush();
  }

  /** Fans out the backlog while every subscriber has credit; pauses the reader when one has none. */
  #flush(): void {
    // A subscriber leaving mid-fan-out can report the feed drained; the loop below re-checks.
    if (this.#flushing) return;
    this.#flushing = true;
    try {
      while (this.#head < this.#backlog.length && this.writable && !this.stopped) {
        this.#fanOutRecord(this.#backlog[this.#head++]);
      }
    } finally {
      this.#flushing = false;
    }
    if (this.stopped) return;
    if (this.#head === this.#backlog.length) {
      this.#backlog = [];
      this.#head = 0;
    }
    this.#pause(!this.writable || this.#backlog.length > 0);
  }

  #pause(paused: boolean): void {
    if (this.#paused === paused) return;
    this.#paused = paused;
    const reader = this.#reader;
    if (!reader) return;
    for (const partition of this.#next.keys()) {
      if (paused) reader.pause(partition);
      else reader.resume(partition);
    }
  }

  #fanOutRecord(record: StoredRecord): void {
    this.#next.set(record.partition, record.offset + 1n);
    const envelope = parseEnvelope(record.value);
    if (!envelope) {
      this.#logger.log("warn", "Skipped a record that is not an event envelope", {
        topic: this.#topic,
        partition: record.partition,
        offset: String(record.offset),
      });
      return;
    }
    const cursor = encodeCursor({ topic: this.#topic, next: this.#next });
    const position = { partition: record.partition, offset: record.offset };
    const read = startConsumerSpan("event_log.read", record.headers, readAttributes(record));
    try {
      this.fanOut(new Delivery(envelope, record.value, cursor, position, read));
    } finally {
      read.span.end();
    }
  }
}

/**
 * How long the live feed remembers event ids, to drop a repeat (a retried
 * publish mirrored again before its write was acknowledged), in ms.
 */
export const LIVE_REPEAT_WINDOW_MS = 30_000;
/** Most event ids the live feed remembers for that. */
export const LIVE_REPEAT_MAX_IDS = 100_000;

/** Events from the live bus: lowest latency, at-most-once, no replay, repeats dropped. */
export class LiveFeed extends Feed {
  #unsubscribe?: () => void;
  readonly #seen = new RecentIds(LIVE_REPEAT_WINDOW_MS, LIVE_REPEAT_MAX_IDS);

  private constructor(onEmpty: () => void) {
    super(false, onEmpty);
  }

  /** Subscribes to `pattern` on `bus`; resolves once the subscription is active. */
  static async open(bus: LiveBus, pattern: string, onEmpty: () => void): Promise<LiveFeed> {
    const feed = new LiveFeed(onEmpty);
    feed.#unsubscribe = await bus.subscribe(pattern, (message) => {
      const envelope = parseEnvelope(message.data);
      if (!envelope || feed.#seen.has(envelope.event_id)) return;
      feed.#seen.add(envelope.event_id, Date.now());
      const received = startConsumerSpan("live_bus.receive", message.headers, {
        "messaging.destination.name": message.subject,
      });
      try {
        const durable = message.headers[DURABLE_HEADER] !== "false";
        feed.fanOut(new Delivery(envelope, message.data, undefined, undefined, received, durable));
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

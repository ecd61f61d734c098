/**
 * Opens subscriptions: picks or shares the feed a request needs, attaches the
 * subscriber, and tells it when it is live. Within a process, every
 * `from=latest` subscriber of a topic shares one log reader (one that falls
 * behind goes on with a reader of its own), the sockets of a
 * group share one group membership, and every live subscriber shares one bus
 * subscription.
 *
 * @module
 */
import type { LiveBus } from "../bus/live_bus.ts";
import type { EventLog } from "../log/event_log.ts";
import type { Logger } from "../telemetry/logger.ts";
import { decodeCursor, InvalidCursorError } from "./cursor.ts";
import type { Subscriber } from "./delivery.ts";
import { DurableFeed, LiveFeed } from "./feeds.ts";
import type { EventFilter } from "./filter.ts";
import { GroupFeed, type GroupFeedOptions } from "./group_feed.ts";
import type { SubscriptionRequest } from "./request.ts";

/** Options of {@linkcode Subscriptions}. */
export interface SubscriptionsOptions {
  /** The topic the live bus mirrors. */
  liveTopic: string;
  /** Subject prefix of the live bus. */
  subjectPrefix: string;
  /** Consumer-group settings. */
  group: GroupFeedOptions;
}

/** An open subscription. */
export interface Subscription {
  /**
   * Acks events up to `cursor`.
   *
   * @throws {InvalidCursorError} for a cursor that was not sent on this subscription.
   */
  ack(cursor: string): void;
  /** Detaches the subscriber. */
  close(): void;
}

/** The live lane carries only the mirrored topic. */
export class LiveTopicError extends Error {
  /** A live subscription asked for `topic`, which the live bus does not carry. */
  constructor(topic: string) {
    super(`Live mode carries only topic "${topic}"`);
    this.name = "LiveTopicError";
  }
}

type AnyFeed = DurableFeed | LiveFeed | GroupFeed;

/**
 * The feed under `key` in `feeds`, opened with `open` when there is none. The
 * entry is removed when the feed fails to open or reports itself gone.
 */
function shared<F>(
  feeds: Map<string, Promise<F>>,
  key: string,
  open: (gone: () => void) => Promise<F>,
): Promise<F> {
  let opening = feeds.get(key);
  if (!opening) {
    opening = open(() => feeds.delete(key));
    feeds.set(key, opening);
    opening.catch(() => feeds.delete(key));
  }
  return opening;
}

/** The subscription manager of one gateway process. */
export class Subscriptions {
  readonly #log: EventLog;
  readonly #bus: LiveBus;
  readonly #options: SubscriptionsOptions;
  readonly #logger: Logger;
  readonly #latest = new Map<string, Promise<DurableFeed>>();
  readonly #groups = new Map<string, Promise<GroupFeed>>();
  #live?: Promise<LiveFeed>;
  readonly #open = new Map<Subscriber, () => void>();
  /** The feed each open subscription's subscriber is attached to now. */
  readonly #attached = new Map<Subscriber, AnyFeed>();

  /** Subscriptions reading from `log` (durable) and `bus` (live). */
  constructor(log: EventLog, bus: LiveBus, options: SubscriptionsOptions, logger: Logger) {
    this.#log = log;
    this.#bus = bus;
    this.#options = options;
    this.#logger = logger;
  }

  /**
   * Opens `request` for `subscriber` and sends it the `ready` frame.
   *
   * @throws {LiveTopicError} for a live subscription to another topic.
   * @throws {Error} when the log or the bus cannot be read.
   */
  async open(request: SubscriptionRequest, subscriber: Subscriber): Promise<Subscription> {
    const { topic, mode, group } = request;
    let feed: AnyFeed;
    const info: Record<string, unknown> = { mode, topic };
    if (mode === "live") {
      if (topic !== this.#options.liveTopic) throw new LiveTopicError(this.#options.liveTopic);
      feed = await this.#attach(
        () =>
          this.#live ??= LiveFeed.open(
            this.#bus,
            `${this.#options.subjectPrefix}.>`,
            () => this.#live = undefined,
          ),
        subscriber,
        request,
      );
    } else if (group) {
      const start = request.from === "earliest" ? "earliest" : "latest";
      feed = await this.#attach(
        () =>
          shared(
            this.#groups,
            `${topic}\u0000${group}`,
            (gone) =>
              GroupFeed.open(
                this.#log,
                topic,
                group,
                start,
                this.#options.group,
                this.#logger,
                gone,
              ),
          ),
        subscriber,
        request,
      );
      info.group = group;
    } else if (request.from === "latest") {
      feed = await this.#attach(
        () =>
          shared(
            this.#latest,
            topic,
            (gone) =>
              DurableFeed.open(
                this.#log,
                topic,
                new Map(),
                this.#logger,
                gone,
                (behind, next) => void this.#goOnAlone(behind, topic, next, request.filter),
              ),
          ),
        subscriber,
        request,
      );
    } else {
      const from = new Map<number, bigint>();
      for (const { partition, low } of await this.#log.offsets(topic)) {
        const next = request.from === "earliest" ? undefined : request.from.next.get(partition);
        from.set(partition, next === undefined || next < low ? low : next);
      }
      feed = await this.#attach(
        () => DurableFeed.open(this.#log, topic, from, this.#logger, () => {}),
        subscriber,
        request,
      );
    }
    if (feed instanceof DurableFeed) info.cursor = feed.cursor();
    this.#attached.set(subscriber, feed);
    const close = () => {
      this.#open.delete(subscriber);
      this.#attached.get(subscriber)?.detach(subscriber);
      this.#attached.delete(subscriber);
    };
    this.#open.set(subscriber, close);
    subscriber.ready(info);
    return {
      ack: (text) => {
        const cursor = decodeCursor(text);
        if (feed instanceof GroupFeed) return feed.ack(subscriber, cursor);
        if (feed instanceof LiveFeed) {
          throw new InvalidCursorError("Live events have no cursor to ack");
        }
        if (cursor.topic !== topic) {
          throw new InvalidCursorError("The cursor belongs to another topic");
        }
      },
      close,
    };
  }

  /** Records behind the end of the log, per group and partition owned by this process. */
  async consumerLag(): Promise<{ group: string; partition: number; lag: number }[]> {
    const out: { group: string; partition: number; lag: number }[] = [];
    for (const [key, opening] of this.#groups) {
      const [topic, group] = key.split("\u0000");
      const committed = (await opening.catch(() => undefined))?.committed();
      if (!committed || committed.size === 0) continue;
      const ends = new Map((await this.#log.offsets(topic)).map((o) => [o.partition, o.high]));
      for (const [partition, offset] of committed) {
        out.push({ group, partition, lag: Number((ends.get(partition) ?? offset) - offset) });
      }
    }
    return out;
  }

  /** Disconnects every subscriber (on shutdown). */
  closeAll(): void {
    for (const [subscriber, close] of this.#open) {
      subscriber.close("shutdown");
      close();
    }
  }

  /**
   * A subscriber that the shared `from=latest` feed left behind (out of
   * credit) goes on from `next` on a feed of its own, at its own pace, so the
   * other subscribers never wait for it. It keeps that feed until it leaves.
   */
  async #goOnAlone(
    subscriber: Subscriber,
    topic: string,
    next: ReadonlyMap<number, bigint>,
    filter: EventFilter,
  ): Promise<void> {
    let own: DurableFeed;
    try {
      own = await DurableFeed.open(this.#log, topic, next, this.#logger, () => {});
    } catch (error) {
      this.#logger.log("warn", "A subscriber left behind could not go on alone", {
        topic,
        error: String(error),
      });
      subscriber.close("log-unavailable");
      this.#open.get(subscriber)?.();
      return;
    }
    // It may have left while its feed opened.
    if (!this.#attached.has(subscriber) || !own.attach(subscriber, filter)) {
      await own.close();
      return;
    }
    this.#attached.set(subscriber, own);
    this.#logger.log("info", "A slow subscriber goes on with a reader of its own", { topic });
  }

  /** Attaches to the feed `get` gives, again if that feed stopped in the meantime. */
  async #attach<F extends AnyFeed>(
    get: () => Promise<F>,
    subscriber: Subscriber,
    request: SubscriptionRequest,
  ): Promise<F> {
    for (;;) {
      const feed = await get();
      if (feed.attach(subscriber, request.filter)) return feed;
    }
  }
}

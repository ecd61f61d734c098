/**
 * A plain reader of a Kafka topic: explicit partitions, offsets that it owns.
 * No consumer group, so nothing can reset its position: after a broker or
 * connection failure it fetches again from its own next offset. One fetch is
 * in flight per leader, so a dead leader stalls only the partitions it led.
 * `pause(partition)` stops fetching that partition (at most the records
 * already fetched are still delivered) until `resume`.
 *
 * @module
 */
import { Consumer, FetchIsolationLevels } from "@platformatic/kafka";
import { type Backoff, backoffDelay, sleep } from "../../backoff.ts";
import type { Logger } from "../../telemetry/logger.ts";
import type { LogReader } from "../event_log.ts";
import {
  clientOptions,
  decodeBatches,
  type KafkaConnection,
  type TransactionalFetchedRecord,
} from "./client.ts";

/** Longest a fetch waits at the broker for records, in ms. @default 500 */
export const DEFAULT_FETCH_MAX_WAIT_MS = 500;
/** Most bytes fetched per partition in one request. @default 1 MiB */
export const DEFAULT_FETCH_PARTITION_BYTES = 1024 * 1024;
/**
 * Waits after a failed fetch (and while a partition has no leader): 100 ms,
 * doubling, at most 500 ms. The cap is short because the dedup tail must
 * catch up within a second of a leader's death: a partition that failed a
 * write checks each batch against the tail, with a 1 s limit.
 */
const FETCH_RETRY: Backoff = { firstMs: 100, maxMs: 500 };
/**
 * An answer naming no partition that came back sooner than this share of the
 * fetch's longest wait did not wait at the broker: its fetch session has lost
 * our partitions (seen with two of three brokers down, about 1,500 such
 * answers a second).
 */
const HURRIED_ANSWER_SHARE = 1 / 5;
/** Hurried empty answers in a row after which the reader starts a new consumer (a new fetch session). */
const HURRIED_ANSWERS_BEFORE_RENEW = 3;
/** Kafka's OFFSET_OUT_OF_RANGE: the next offset is no longer (or not yet) in the log. */
const OFFSET_OUT_OF_RANGE = 1;

/** What the reader needs of a `@platformatic/kafka` consumer (tests hand in a fake). */
export type ReaderConsumer = Pick<Consumer, "fetch" | "metadata" | "close">;

/** Receives records of one partition, in offset order. */
export type FetchedHandler = (partition: number, records: TransactionalFetchedRecord[]) => void;

/** Options of {@linkcode KafkaReader}. */
export interface KafkaReaderOptions {
  /** How to reach the brokers. */
  connection: KafkaConnection;
  /** Topic read. */
  topic: string;
  /** The next offset to read, per partition; only these partitions are read (see `assign`). */
  from: ReadonlyMap<number, bigint>;
  /** Called with each partition's records, in order. */
  onRecords: FetchedHandler;
  /** Called after a partition's next offset moved (after `onRecords`, if it had records). */
  onProgress?: (partition: number) => void;
  /**
   * Read records of transactions still open too, each with its producer, and
   * the markers that end them ({@linkcode decodeBatches}); committed records only when unset.
   */
  uncommitted?: boolean;
  /** Structured logger. */
  logger: Logger;
  /** Name in logs and in the client id, e.g. `reader` or `dedup`. */
  role: string;
  /**
   * How many bytes a fetch that follows records waits for at the broker, up
   * to `maxWaitMs`: 1 (the default) answers as soon as one record is there;
   * more trades that record's delay for fewer, fuller fetches while records
   * keep coming. A fetch that follows an answer without records always
   * waits for the first one, up to {@linkcode DEFAULT_FETCH_MAX_WAIT_MS}, so a
   * quiet log costs two fetches a second and its next record comes at once.
   */
  minBytes?: number;
  /** Longest such a fetch waits at the broker, in ms (default {@linkcode DEFAULT_FETCH_MAX_WAIT_MS}). */
  maxWaitMs?: number;
  /** Makes the consumer, again when a fetch session breaks; default: a `@platformatic/kafka` one. */
  newConsumer?: () => ReaderConsumer;
}

/** Reads chosen partitions of one topic from offsets it keeps itself. */
export class KafkaReader implements LogReader {
  readonly #options: KafkaReaderOptions;
  #consumer: ReaderConsumer;
  readonly #next: Map<number, bigint>;
  readonly #paused = new Set<number>();
  readonly #leaders = new Map<number, number>();
  readonly #loops = new Map<number, Promise<void>>();
  #topicId = "";
  #closed = false;
  #awaitingLeaders = false;
  #wake = Promise.withResolvers<void>();

  /** A reader; {@linkcode KafkaReader.start} begins fetching. */
  constructor(options: KafkaReaderOptions) {
    this.#options = options;
    this.#next = new Map(options.from);
    this.#consumer = this.#newConsumer();
  }

  #newConsumer(): ReaderConsumer {
    const { connection, role, newConsumer } = this.#options;
    if (newConsumer) return newConsumer();
    return new Consumer({
      ...clientOptions(connection, role),
      groupId: `${connection.clientId}-${role}-unused`,
    });
  }

  /** Replaces the consumer, and with it the brokers' fetch sessions; the old one's fetches fail and retry. */
  #renewConsumer(node: number): void {
    this.#options.logger.log("warn", "Kafka fetch session answers without waiting; starting anew", {
      component: "kafka",
      role: this.#options.role,
      node,
    });
    const old = this.#consumer;
    this.#consumer = this.#newConsumer();
    void old.close(true).catch(() => {});
  }

  /** Finds the partitions' leaders and starts fetching. Rejects when Kafka cannot be reached. */
  async start(): Promise<void> {
    await this.#refreshLeaders(false);
    this.#startLoops();
    void this.#awaitLeaders();
  }

  /** The next offset of `partition` (what has been delivered ends just before it). */
  next(partition: number): bigint | undefined {
    return this.#next.get(partition);
  }

  pause(partition: number): void {
    this.#paused.add(partition);
  }

  resume(partition: number): void {
    if (this.#paused.delete(partition)) this.#notify();
  }

  /**
   * Reads `partition` from `from` on (a consumer group's new partition).
   * Records of a fetch already under way for it are dropped, so delivery
   * starts exactly at `from`.
   */
  async assign(partition: number, from: bigint): Promise<void> {
    this.#next.set(partition, from);
    this.#paused.delete(partition);
    await this.#refreshLeaders(false).catch(() => {});
    this.#startLoops();
    if (!this.#leaders.has(partition)) void this.#awaitLeaders();
    this.#notify();
  }

  /** Stops reading `partition` (revoked from a consumer group); nothing more of it is delivered. */
  unassign(partition: number): void {
    this.#next.delete(partition);
    this.#leaders.delete(partition);
    this.#paused.delete(partition);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#notify();
    await Promise.allSettled(this.#loops.values());
    await this.#consumer.close(true).catch(() => {});
  }

  #notify(): void {
    this.#wake.resolve();
    this.#wake = Promise.withResolvers<void>();
  }

  async #refreshLeaders(force: boolean): Promise<void> {
    const { topic } = this.#options;
    const metadata = await this.#consumer.metadata({ topics: [topic], forceUpdate: force });
    const t = metadata.topics.get(topic);
    if (!t) throw new Error(`Topic ${topic} has no metadata`);
    this.#topicId = t.id;
    for (const partition of this.#next.keys()) {
      const leader = t.partitions[partition]?.leader;
      if (leader !== undefined && leader >= 0) this.#leaders.set(partition, leader);
    }
  }

  /**
   * Partitions with no leader yet (a topic just created, an election under
   * way) are read once one is elected: ask again with backoff until each has
   * one.
   */
  async #awaitLeaders(): Promise<void> {
    if (this.#awaitingLeaders) return;
    this.#awaitingLeaders = true;
    for (let attempt = 0; !this.#closed && this.#leaders.size < this.#next.size; attempt++) {
      await sleep(backoffDelay(attempt, FETCH_RETRY));
      await this.#refreshLeaders(true).catch(() => {});
      this.#startLoops();
    }
    this.#awaitingLeaders = false;
  }

  #startLoops(): void {
    for (const node of new Set(this.#leaders.values())) {
      if (this.#loops.has(node) || this.#closed) continue;
      const loop = this.#fetchLoop(node).finally(() => this.#loops.delete(node));
      this.#loops.set(node, loop);
    }
  }

  /** Fetches the partitions `node` leads, one request at a time, until none is left. */
  async #fetchLoop(node: number): Promise<void> {
    const { minBytes = 1, maxWaitMs = DEFAULT_FETCH_MAX_WAIT_MS } = this.#options;
    /** Failed fetches in a row: how long to wait before the next. */
    let failures = 0;
    let hurried = 0;
    /** The last answer named no partition: the next fetch waits for the first record. */
    let quiet = true;
    while (!this.#closed) {
      const owned = [...this.#leaders].filter(([, leader]) => leader === node).map(([p]) => p);
      if (owned.length === 0) return;
      const wanted = owned.filter((p) => !this.#paused.has(p));
      if (wanted.length === 0) {
        await this.#wake.promise;
        continue;
      }
      // What was asked for: a partition reassigned meanwhile starts elsewhere, so its answer is dropped.
      const asked = new Map(wanted.map((p) => [p, this.#next.get(p)!]));
      try {
        const sent = performance.now();
        const waitAtBroker: number = quiet ? DEFAULT_FETCH_MAX_WAIT_MS : maxWaitMs;
        const response: Awaited<ReturnType<Consumer["fetch"]>> = await this.#consumer.fetch({
          node,
          maxWaitTime: waitAtBroker,
          minBytes: quiet ? 1 : minBytes,
          isolationLevel: this.#options.uncommitted
            ? FetchIsolationLevels.READ_UNCOMMITTED
            : FetchIsolationLevels.READ_COMMITTED,
          topics: [{
            topicId: this.#topicId,
            partitions: wanted.map((partition) => ({
              partition,
              currentLeaderEpoch: -1,
              fetchOffset: this.#next.get(partition)!,
              lastFetchedEpoch: -1,
              partitionMaxBytes: DEFAULT_FETCH_PARTITION_BYTES,
            })),
          }],
        });
        if (this.#closed) return;
        const empty: boolean = response.responses.every((t) => t.partitions.length === 0);
        quiet = empty;
        if (!empty || performance.now() - sent >= waitAtBroker * HURRIED_ANSWER_SHARE) {
          hurried = 0;
          if (this.#deliver(response, asked)) {
            failures = 0;
            continue;
          }
        } else if (++hurried >= HURRIED_ANSWERS_BEFORE_RENEW) {
          hurried = 0;
          this.#renewConsumer(node);
        }
      } catch (error) {
        if (this.#closed) return;
        this.#options.logger.log("warn", "Kafka fetch failed; retrying from the same offsets", {
          component: "kafka",
          role: this.#options.role,
          node,
          error: String(error),
        });
      }
      // The leader may have moved: look again, and hand partitions to their new leader's loop.
      await sleep(backoffDelay(failures++, FETCH_RETRY));
      await this.#refreshLeaders(true).catch(() => {});
      this.#startLoops();
    }
  }

  /** Hands over fetched records; false when a partition reported an error. */
  #deliver(
    response: Awaited<ReturnType<Consumer["fetch"]>>,
    asked: ReadonlyMap<number, bigint>,
  ): boolean {
    let healthy = true;
    for (const topic of response.responses) {
      for (const p of topic.partitions) {
        const next = this.#next.get(p.partitionIndex);
        if (next === undefined || next !== asked.get(p.partitionIndex)) continue;
        if (p.errorCode === OFFSET_OUT_OF_RANGE && next < p.logStartOffset) {
          // Retention removed records not yet read: go on from the first one left, never back.
          this.#options.logger.log("warn", "Kafka records expired before they were read", {
            component: "kafka",
            role: this.#options.role,
            partition: p.partitionIndex,
            skipped: String(p.logStartOffset - next),
          });
          this.#next.set(p.partitionIndex, p.logStartOffset);
          continue;
        }
        if (p.errorCode !== 0) {
          healthy = false;
          continue;
        }
        const { records, next: after } = decodeBatches(
          this.#options.topic,
          p.partitionIndex,
          p.records ?? [],
          next,
          this.#options.uncommitted ? "uncommitted" : p.abortedTransactions,
        );
        if (after === next) continue;
        // Markers and aborted transactions move the reader on too, with no records to hand over.
        this.#next.set(p.partitionIndex, after);
        if (records.length > 0) this.#options.onRecords(p.partitionIndex, records);
        this.#options.onProgress?.(p.partitionIndex);
      }
    }
    return healthy;
  }
}

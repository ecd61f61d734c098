/**
 * The Kafka adapter of the event log. It composes the write path
 * ({@linkcode PartitionedProducer}), plain readers ({@linkcode KafkaReader}),
 * the dedup tail ({@linkcode DedupTail}), topic administration
 * ({@linkcode TopicAdmin}) and consumer groups ({@linkcode GroupConsumers}).
 *
 * Records are written in Kafka transactions and read committed, so a write
 * that was not acknowledged is invisible to everyone and a retry writes the
 * one copy. Only a record whose commit was under way when its answer was due
 * is "in doubt": a retry of its event id, on this process or any other, first
 * waits until the dedup tail has seen its transaction end (the tail reads
 * open transactions too), then answers as a duplicate if it committed, or
 * writes it if not.
 *
 * @module
 */
import { type Backoff, backoffDelay, sleep } from "../../backoff.ts";
import { EventLogUnavailableError } from "../../errors.ts";
import { type Logger, RepeatedLog } from "../../telemetry/logger.ts";
import { DedupWindow } from "../dedup_window.ts";
import type {
  AppendResult,
  EventLog,
  GroupHandler,
  GroupMembership,
  GroupStart,
  LogReader,
  LogRecord,
  PartitionOffsets,
  RecordHandler,
} from "../event_log.ts";
import { partitionFor } from "../partitioner.ts";
import { TopicAdmin } from "./admin.ts";
import {
  EVENT_ID_HEADER,
  FINGERPRINT_HEADER,
  type KafkaConnection,
  kafkaFailure,
} from "./client.ts";
import { DedupTail } from "./dedup_tail.ts";
import { GroupConsumers } from "./group_consumer.ts";
import {
  EarlierWriteError,
  PartitionedProducer,
  type PartitionMessage,
  ProduceFailedError,
  PublishTimeoutError,
} from "./producer.ts";
import { KafkaReader } from "./reader.ts";

/** Options of {@linkcode KafkaLog}. */
export interface KafkaLogOptions extends KafkaConnection {
  /** Topic to create when missing and to tail for dedup. */
  topic: string;
  /** Partitions of the topic when this process creates it. */
  partitions: number;
  /** Replication factor of the topic when this process creates it. */
  replicationFactor: number;
  /** Most records in one produce request, per partition. */
  maxBatch: number;
  /** Transactions in flight per partition; default the producer's `DEFAULT_LANES` (2). */
  lanes?: number;
  /** How long a batch may wait for more records before it is sent, in ms. */
  lingerMs: number;
  /** Longest a publish waits for its answer, in ms. */
  publishTimeoutMs: number;
  /** How long an event id is remembered, in ms. */
  dedupWindowMs: number;
  /** Prefix of the transactional ids: unique among live processes, kept across restarts. */
  transactionalId: string;
}

/**
 * Share of the publish timeout kept for the HTTP answer after the log gives
 * up: Kafka gets the rest, so the client has its `503` by the timeout. It
 * covers the time before the handler starts too (the gateway's clock starts
 * there), and the event-loop stalls of a loaded 2-core machine: 0.3-0.85 s in
 * the chaos rounds, so 1.25 s of the default 5 s.
 */
const ANSWER_MARGIN_SHARE = 0.25;
/**
 * Longest a publish waits for an earlier write of its event id to settle (an
 * open transaction of another writer, or this process's unconfirmed commit),
 * in ms. A live writer ends its transaction in milliseconds; one still open
 * after this has most likely lost its writer, and the coordinator aborts it
 * only after the transaction timeout. The caller gets `503` and retries,
 * rather than waiting out the whole publish timeout.
 */
const EARLIER_WRITE_WAIT_MS = 2000;
/**
 * How long after a failed write a partition is checked before each commit for
 * earlier copies of its events, in ms. A commit that was not confirmed in a
 * fault can land when the brokers come back, after another gateway took the
 * client's retry; only then can the copies collide.
 */
const SUSPECT_MS = 60_000;
/** Longest that check waits for the dedup tail, in ms (then the batch is tried again). */
const CHECK_TIMEOUT_MS = 1000;
/** Longest `ready()` waits for the brokers' answer, in ms. */
const READY_PROBE_TIMEOUT_MS = 1500;
/** Waits between start-up attempts: 250 ms, doubling, at most 5 s. */
const START_RETRY: Backoff = { firstMs: 250, maxMs: 5000 };

/** Resolves `promise`, or rejects with `error()` after `ms`. */
function within<T>(promise: Promise<T>, ms: number, error: () => Error): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(error()), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** An {@linkcode EventLog} on Apache Kafka. */
export class KafkaLog implements EventLog {
  readonly backend = "kafka";
  readonly #options: KafkaLogOptions;
  readonly #logger: Logger;
  readonly #admin: TopicAdmin;
  readonly #producer: PartitionedProducer;
  readonly #groups: GroupConsumers;
  readonly #dedup: DedupWindow;
  readonly #readers = new Set<KafkaReader>();
  /** One warning per partition per second, however many writes fail. */
  readonly #writeFailures: RepeatedLog;
  /** When a write to each partition last failed (ms since the epoch). */
  readonly #troubleAt = new Map<number, number>();
  /** Event ids whose commit may or may not have gone through, with where the record would be. */
  readonly #inDoubt = new Map<string, { partition: number; offset: bigint }>();
  #tail?: DedupTail;
  #partitionCount = 0;
  #started = false;
  #closed = false;
  readonly #starting: Promise<void>;

  /** Connects in the background; `append` answers 503 until the topic and dedup window are ready. */
  constructor(options: KafkaLogOptions, logger: Logger) {
    this.#options = options;
    this.#logger = logger;
    this.#writeFailures = new RepeatedLog(logger, "warn", "Kafka write not acknowledged");
    this.#dedup = new DedupWindow(options.dedupWindowMs);
    this.#admin = new TopicAdmin(options);
    this.#producer = new PartitionedProducer(
      options,
      undefined,
      (partition, base, messages) => this.#earlierWrites(partition, base, messages),
    );
    this.#groups = new GroupConsumers(options, logger);
    this.#starting = this.#start();
  }

  append(record: LogRecord): Promise<AppendResult> {
    const budget = this.#options.publishTimeoutMs * (1 - ANSWER_MARGIN_SHARE);
    return this.#append(record, (record.receivedAt ?? Date.now()) + budget);
  }

  /** Appends `record`, answering by `deadline` (ms since the epoch) whatever it has to wait for. */
  async #append(record: LogRecord, deadline: number): Promise<AppendResult> {
    if (this.#closed) throw new EventLogUnavailableError("The event log is closed");
    if (!this.#started) throw new EventLogUnavailableError("Kafka is not reachable yet");
    const duplicate = this.#dedup.check(record.eventId, record.fingerprint);
    if (duplicate) return duplicate;
    // An earlier write of this id may still commit: this process's own commit that was not
    // confirmed (not read back yet), or an open transaction of any process that the tail has read.
    const doubtful = this.#inDoubt.get(record.eventId);
    const outcome = doubtful
      ? this.#tail!.readTo(doubtful.partition, doubtful.offset + 1n)
      : this.#tail!.pending(record.eventId);
    if (outcome !== undefined) {
      await within(
        outcome,
        Math.min(deadline - Date.now(), EARLIER_WRITE_WAIT_MS),
        () => new EventLogUnavailableError("Kafka cannot confirm an earlier write of this event"),
      );
      this.#inDoubt.delete(record.eventId);
      return this.#append(record, deadline);
    }
    const { topic } = this.#options;
    const partition = partitionFor(record.key, this.#partitionCount);
    const remember = (offset: bigint) => {
      this.#inDoubt.delete(record.eventId);
      this.#dedup.remember(record.eventId, {
        fingerprint: record.fingerprint,
        topic,
        partition,
        offset: String(offset),
        at: Date.now(),
      });
    };
    try {
      const offset = await this.#producer.send(
        partition,
        {
          key: record.key,
          value: record.value,
          headers: {
            ...record.headers,
            [EVENT_ID_HEADER]: record.eventId,
            [FINGERPRINT_HEADER]: record.fingerprint,
          },
        },
        (late) => typeof late === "bigint" && remember(late),
        deadline - Date.now(),
      );
      remember(offset);
      return { topic, partition, offset: String(offset), duplicate: false };
    } catch (error) {
      if (error instanceof EarlierWriteError) return this.#append(record, deadline);
      this.#troubleAt.set(partition, Date.now());
      const maybeAt = error instanceof PublishTimeoutError || error instanceof ProduceFailedError
        ? error.maybeAt
        : undefined;
      if (maybeAt !== undefined) this.#inDoubt.set(record.eventId, { partition, offset: maybeAt });
      this.#writeFailures.log(String(partition), {
        component: "kafka",
        partition,
        error: String(error),
        reason: kafkaFailure(error).reason,
      });
      throw new EventLogUnavailableError("Kafka did not acknowledge the write", { cause: error });
    }
  }

  /**
   * The records of a batch written at `base` of `partition` whose event is
   * already there before `base` (committed, or in an open transaction), by
   * any writer. Asked before every commit, but checked only for a partition
   * that failed a write in the last {@linkcode SUSPECT_MS}: after a fault, the
   * brokers may bring back a commit that was not confirmed, after its retry
   * reached this process. All of the batch when the tail does not get there in time.
   */
  async #earlierWrites(
    partition: number,
    base: bigint,
    messages: readonly PartitionMessage[],
  ): Promise<ReadonlySet<number>> {
    const since = this.#troubleAt.get(partition);
    if (since === undefined || Date.now() - since > SUSPECT_MS) return new Set();
    const read = await within(
      this.#tail!.readTo(partition, base),
      CHECK_TIMEOUT_MS,
      () => new Error("timeout"),
    ).then(() => true, () => false);
    const copies = new Set<number>();
    messages.forEach((m, i) => {
      const id = m.headers[EVENT_ID_HEADER];
      if (
        !read || this.#dedup.has(id) || this.#tail!.openBefore(id, partition, base)
      ) copies.add(i);
    });
    return copies;
  }

  async ready(): Promise<boolean> {
    if (!this.#started || this.#closed) return false;
    return await within(
      this.#admin.partitionCount(this.#options.topic, true).then(() => true),
      READY_PROBE_TIMEOUT_MS,
      () => new Error("timeout"),
    ).catch(() => false);
  }

  async hasTopic(topic: string): Promise<boolean> {
    return await this.#admin.hasTopic(topic);
  }

  async offsets(topic: string): Promise<PartitionOffsets[]> {
    return await this.#admin.offsets(topic, await this.#partitionsOf(topic));
  }

  async read(
    topic: string,
    from: ReadonlyMap<number, bigint>,
    onRecords: RecordHandler,
  ): Promise<LogReader> {
    const start = new Map<number, bigint>();
    for (const { partition, high } of await this.offsets(topic)) {
      start.set(partition, from.get(partition) ?? high);
    }
    const reader = new KafkaReader({
      connection: this.#options,
      topic,
      from: start,
      logger: this.#logger,
      role: "reader",
      onRecords: (_, records) => onRecords(records),
    });
    await reader.start();
    this.#readers.add(reader);
    return {
      pause: (p) => reader.pause(p),
      resume: (p) => reader.resume(p),
      close: async () => {
        this.#readers.delete(reader);
        await reader.close();
      },
    };
  }

  joinGroup(
    topic: string,
    group: string,
    start: GroupStart,
    handler: GroupHandler,
  ): Promise<GroupMembership> {
    return this.#groups.join(topic, group, start, () => this.offsets(topic), handler);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#starting.catch(() => {});
    await Promise.allSettled([
      this.#producer.close(),
      this.#tail?.close(),
      this.#groups.close(),
      ...[...this.#readers].map((r) => r.close()),
    ]);
    await this.#admin.close().catch(() => {});
  }

  async #partitionsOf(topic: string): Promise<number> {
    return topic === this.#options.topic && this.#partitionCount > 0
      ? this.#partitionCount
      : await this.#admin.partitionCount(topic);
  }

  /** Keeps trying until Kafka answers; the gateway serves 503 meanwhile. */
  async #start(): Promise<void> {
    const { topic, partitions, replicationFactor, dedupWindowMs } = this.#options;
    for (let attempt = 0; !this.#closed; attempt++) {
      try {
        this.#partitionCount = await this.#admin.ensureTopic(topic, partitions, replicationFactor);
        this.#tail = await DedupTail.start(
          {
            connection: this.#options,
            topic,
            partitions: this.#partitionCount,
            windowMs: dedupWindowMs,
            logger: this.#logger,
          },
          this.#admin,
          this.#dedup,
        );
        this.#started = true;
        this.#producer.warm(this.#partitionCount);
        this.#logger.log("info", "Kafka log started", {
          component: "kafka",
          topic,
          partitions: this.#partitionCount,
          dedup_ids: this.#dedup.size,
        });
        return;
      } catch (error) {
        const { reason, loginRefused } = kafkaFailure(error);
        this.#logger.log(
          loginRefused ? "error" : "warn",
          loginRefused ? "Kafka refused the SASL login; retrying" : "Kafka not reachable; retrying",
          { component: "kafka", attempt, error: String(error), reason },
        );
        await sleep(backoffDelay(attempt, START_RETRY));
      }
    }
  }
}

/**
 * The Kafka adapter of the event log: a kafkajs idempotent producer (acks=all)
 * that micro-batches concurrent appends into `sendBatch` calls, and a tail of
 * the topic that keeps the dedup window of every gateway process in step.
 *
 * @module
 */
import {
  type Admin,
  type Consumer,
  type IHeaders,
  type ISocketFactory,
  Kafka,
  type KafkaMessage,
  logLevel,
  type Producer,
} from "kafkajs";
import "./kafkajs_patch.ts";
import { connect as connectTcp, isIP } from "node:net";
import { connect as connectTls } from "node:tls";
import { EventLogUnavailableError } from "../../errors.ts";
import type { Logger } from "../../telemetry/logger.ts";
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
  StoredRecord,
} from "../event_log.ts";
import { partitionFor } from "../partitioner.ts";

/** Header that carries the event id, so any gateway can rebuild its dedup window. */
export const EVENT_ID_HEADER = "tastesync-event-id";
/** Header that carries the content fingerprint. */
export const FINGERPRINT_HEADER = "tastesync-fingerprint";

/** Options of {@linkcode KafkaLog}. */
export interface KafkaLogOptions {
  /** Bootstrap brokers, `host:port`. */
  brokers: string[];
  /** Client id reported to the brokers. */
  clientId: string;
  /** Topic to create when missing and to tail for dedup. */
  topic: string;
  /** Partitions of the topic when this process creates it. */
  partitions: number;
  /** Replication factor of the topic when this process creates it. */
  replicationFactor: number;
  /** Most records in one `sendBatch`. */
  maxBatch: number;
  /** How long a batch may wait for more records before it is sent, in ms. */
  lingerMs: number;
  /** Retries of a failed request, with exponential backoff and jitter. */
  retries: number;
  /** First backoff, in ms; each retry doubles it, with 20% jitter. */
  initialRetryMs: number;
  /** How long to wait for a TCP connection, in ms. */
  connectionTimeoutMs: number;
  /** How long to wait for a broker's answer, in ms. */
  requestTimeoutMs: number;
  /** How long an event id is remembered, in ms. */
  dedupWindowMs: number;
}

interface Pending {
  record: LogRecord;
  resolve: (result: AppendResult) => void;
  reject: (error: Error) => void;
}

const READY_PROBE_TIMEOUT_MS = 1500;

/**
 * kafkajs' socket factory with Nagle's algorithm turned off: small produce and
 * fetch requests go out at once instead of waiting on the peer's delayed ACK,
 * which otherwise adds tens of milliseconds to tail latency.
 */
const noDelaySockets: ISocketFactory = ({ host, port, ssl, onConnect }) => {
  const socket = ssl
    ? connectTls({ host, port, ...(isIP(host) ? {} : { servername: host }), ...ssl }, onConnect)
    : connectTcp({ host, port }, onConnect);
  socket.setNoDelay(true);
  socket.setKeepAlive(true, 60_000);
  return socket;
};

/** An {@linkcode EventLog} on Apache Kafka. */
export class KafkaLog implements EventLog {
  readonly backend = "kafka";
  readonly #options: KafkaLogOptions;
  readonly #logger: Logger;
  readonly #kafka: Kafka;
  readonly #producer: Producer;
  readonly #admin: Admin;
  readonly #dedup: DedupWindow;
  #tail?: Consumer;
  readonly #readers = new Set<Consumer>();
  #partitionCount = 0;
  #queue: Pending[] = [];
  #sending?: Promise<void>;
  #started = false;
  #closed = false;
  #resetProducer = false;
  readonly #starting: Promise<void>;

  /** Connects in the background; `append` answers 503 until the topic and dedup window are ready. */
  constructor(options: KafkaLogOptions, logger: Logger) {
    this.#options = options;
    this.#logger = logger;
    this.#dedup = new DedupWindow(options.dedupWindowMs);
    this.#kafka = new Kafka({
      clientId: options.clientId,
      brokers: options.brokers,
      socketFactory: noDelaySockets,
      connectionTimeout: options.connectionTimeoutMs,
      requestTimeout: options.requestTimeoutMs,
      retry: {
        retries: options.retries,
        initialRetryTime: options.initialRetryMs,
        maxRetryTime: options.initialRetryMs * 2 ** options.retries,
        multiplier: 2,
        factor: 0.2,
      },
      logLevel: logLevel.ERROR,
      logCreator: () => ({ namespace, log }) => {
        logger.log("warn", `kafkajs: ${log.message}`, { component: "kafka", namespace });
      },
    });
    this.#producer = this.#kafka.producer({
      idempotent: true,
      maxInFlightRequests: 1,
      allowAutoTopicCreation: false,
    });
    this.#admin = this.#kafka.admin();
    this.#starting = this.#start();
  }

  append(record: LogRecord): Promise<AppendResult> {
    if (this.#closed) {
      return Promise.reject(new EventLogUnavailableError("The event log is closed"));
    }
    if (!this.#started) {
      return Promise.reject(new EventLogUnavailableError("Kafka is not reachable yet"));
    }
    try {
      const duplicate = this.#dedup.check(record.eventId, record.fingerprint);
      if (duplicate) return Promise.resolve(duplicate);
    } catch (error) {
      return Promise.reject(error);
    }
    return new Promise((resolve, reject) => {
      this.#queue.push({ record, resolve, reject });
      this.#sending ??= this.#drain();
    });
  }

  async ready(): Promise<boolean> {
    if (!this.#started || this.#closed) return false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(false), READY_PROBE_TIMEOUT_MS);
    });
    const probe = this.#admin.fetchTopicMetadata({ topics: [this.#options.topic] })
      .then(() => true, () => false);
    try {
      return await Promise.race([probe, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  async offsets(topic: string): Promise<PartitionOffsets[]> {
    const offsets = await this.#admin.fetchTopicOffsets(topic);
    return offsets.map((o) => ({
      partition: o.partition,
      low: BigInt(o.low),
      high: BigInt(o.high),
    }))
      .sort((a, b) => a.partition - b.partition);
  }

  /**
   * A consumer in a group of its own that never commits, seeked to `from`:
   * kafkajs has no group-less consumer, and a private group costs the broker
   * nothing once it expires.
   */
  async read(
    topic: string,
    from: ReadonlyMap<number, bigint>,
    onRecords: RecordHandler,
  ): Promise<LogReader> {
    const offsets = await this.offsets(topic);
    const consumer = this.#kafka.consumer({
      groupId: `${this.#options.clientId}-reader-${crypto.randomUUID()}`,
      maxWaitTimeInMs: 50,
    });
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: true });
    await consumer.run({
      autoCommit: false,
      eachBatch: ({ batch }) => {
        onRecords(batch.messages.map((m) => toStoredRecord(topic, batch.partition, m)));
        return Promise.resolve();
      },
    });
    for (const { partition, high } of offsets) {
      consumer.seek({ topic, partition, offset: String(from.get(partition) ?? high) });
    }
    this.#readers.add(consumer);
    return this.#reader(topic, consumer);
  }

  async joinGroup(
    topic: string,
    group: string,
    start: GroupStart,
    handler: GroupHandler,
  ): Promise<GroupMembership> {
    // A new group starts where the log ends now (or begins), not wherever its members first
    // fetch: its start offsets are sought before the first join and committed right after it,
    // so nothing published after `ready` is missed, even across restarts.
    const [committed] = await this.#admin.fetchOffsets({ groupId: group, topics: [topic] });
    const isNew = !committed?.partitions.some((p) => p.offset !== "-1");
    const starts = isNew ? await this.offsets(topic) : [];
    const startOf = (o: PartitionOffsets) => String(start === "earliest" ? o.low : o.high);
    let firstJoin = true;
    const consumer = this.#kafka.consumer({ groupId: group, maxWaitTimeInMs: 50 });
    let owned = new Set<number>();
    const joined = Promise.withResolvers<void>();
    consumer.on(consumer.events.GROUP_JOIN, ({ payload }) => {
      const now = new Set(payload.memberAssignment[topic] ?? []);
      const revoked = [...owned].filter((p) => !now.has(p));
      const assigned = [...now].filter((p) => !owned.has(p));
      owned = now;
      if (revoked.length > 0) handler.revoked(revoked);
      if (assigned.length > 0) handler.assigned(assigned);
      const initial = firstJoin
        ? starts.filter((o) => now.has(o.partition)).map((o) => ({
          topic,
          partition: o.partition,
          offset: startOf(o),
        }))
        : [];
      firstJoin = false;
      (initial.length > 0 ? consumer.commitOffsets(initial) : Promise.resolve()).then(
        () => joined.resolve(),
        (error) => joined.reject(error),
      );
    });
    consumer.on(consumer.events.CRASH, ({ payload }) => joined.reject(payload.error));
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: start === "earliest" });
    await consumer.run({
      autoCommit: false,
      eachBatch: ({ batch }) => {
        if (owned.has(batch.partition)) {
          handler.records(batch.messages.map((m) => toStoredRecord(topic, batch.partition, m)));
        }
        return Promise.resolve();
      },
    });
    for (const o of starts) consumer.seek({ topic, partition: o.partition, offset: startOf(o) });
    try {
      await joined.promise;
    } catch (error) {
      await consumer.disconnect();
      throw error;
    }
    this.#readers.add(consumer);
    return {
      ...this.#reader(topic, consumer),
      commit: async (partition, next) => {
        // A partition that moved to another process in a rebalance is not ours to commit.
        if (!owned.has(partition)) return;
        await consumer.commitOffsets([{ topic, partition, offset: String(next) }]).catch((error) =>
          this.#logger.log("warn", "Kafka offset commit failed", {
            component: "kafka",
            group,
            partition,
            error: String(error),
          })
        );
      },
    };
  }

  #reader(topic: string, consumer: Consumer): LogReader {
    return {
      pause: (partition) => consumer.pause([{ topic, partitions: [partition] }]),
      resume: (partition) => consumer.resume([{ topic, partitions: [partition] }]),
      close: async () => {
        this.#readers.delete(consumer);
        await consumer.disconnect();
      },
    };
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#starting.catch(() => {});
    await this.#sending;
    await Promise.allSettled([
      this.#producer.disconnect(),
      this.#admin.disconnect(),
      this.#tail?.disconnect(),
      ...[...this.#readers].map((c) => c.disconnect()),
    ]);
  }

  /** Keeps trying until Kafka answers; the gateway serves 503 meanwhile. */
  async #start(): Promise<void> {
    for (let attempt = 0; !this.#closed; attempt++) {
      try {
        await this.#admin.connect();
        this.#partitionCount = await this.#ensureTopic();
        await this.#producer.connect();
        await this.#loadDedupWindow();
        this.#started = true;
        this.#logger.log("info", "Kafka log started", {
          component: "kafka",
          topic: this.#options.topic,
          partitions: this.#partitionCount,
        });
        return;
      } catch (error) {
        this.#logger.log("warn", "Kafka not reachable; retrying", {
          component: "kafka",
          attempt,
          error: String(error),
        });
        await new Promise((r) => setTimeout(r, Math.min(5000, 250 * 2 ** attempt)));
      }
    }
  }

  async #ensureTopic(): Promise<number> {
    const { topic, partitions, replicationFactor } = this.#options;
    const topics = await this.#admin.listTopics();
    if (!topics.includes(topic)) {
      await this.#admin.createTopics({
        waitForLeaders: true,
        topics: [{ topic, numPartitions: partitions, replicationFactor }],
      });
    }
    const meta = await this.#admin.fetchTopicMetadata({ topics: [topic] });
    return meta.topics[0].partitions.length;
  }

  /**
   * Reads the last dedup window of the topic (from the offsets at now - window
   * to the end) and keeps tailing it, so ids written by other gateway processes
   * are known here too. A fresh consumer group per process and no commits: the
   * tail is a projection of the log, never a source of truth.
   */
  async #loadDedupWindow(): Promise<void> {
    const { topic } = this.#options;
    const since = Date.now() - this.#options.dedupWindowMs;
    const [starts, ends] = await Promise.all([
      this.#admin.fetchTopicOffsetsByTimestamp(topic, since),
      this.#admin.fetchTopicOffsets(topic),
    ]);
    const end = new Map(ends.map((p) => [p.partition, BigInt(p.high)]));
    const behind = new Set(
      ends.filter((p) => BigInt(p.high) > BigInt(p.low)).map((p) => p.partition),
    );
    const tail = this.#kafka.consumer({
      groupId: `${this.#options.clientId}-dedup-${crypto.randomUUID()}`,
      maxWaitTimeInMs: 100,
    });
    this.#tail = tail;
    let caughtUp: () => void = () => {};
    const loaded = new Promise<void>((resolve) => caughtUp = resolve);
    const markProgress = (partition: number, next: bigint) => {
      if (next >= (end.get(partition) ?? 0n)) behind.delete(partition);
      if (behind.size === 0) caughtUp();
    };
    await tail.connect();
    await tail.subscribe({ topic, fromBeginning: true });
    await tail.run({
      autoCommit: false,
      eachBatch: async ({ batch }) => {
        for (const message of batch.messages) this.#rememberFromLog(batch.partition, message);
        markProgress(batch.partition, BigInt(batch.lastOffset()) + 1n);
        await Promise.resolve();
      },
    });
    for (const { partition, offset } of starts) {
      const high = end.get(partition) ?? 0n;
      const from = BigInt(offset) < 0n ? high : BigInt(offset);
      tail.seek({ topic, partition, offset: String(from) });
      markProgress(partition, from);
    }
    await loaded;
  }

  #rememberFromLog(partition: number, message: KafkaMessage): void {
    const eventId = headerText(message.headers, EVENT_ID_HEADER);
    const fingerprint = headerText(message.headers, FINGERPRINT_HEADER);
    if (eventId === undefined || fingerprint === undefined) return;
    this.#dedup.remember(eventId, {
      fingerprint,
      topic: this.#options.topic,
      partition,
      offset: message.offset,
      at: Number(message.timestamp),
    });
  }

  async #drain(): Promise<void> {
    try {
      while (this.#queue.length > 0) {
        if (this.#options.lingerMs > 0 && this.#queue.length < this.#options.maxBatch) {
          await new Promise((r) => setTimeout(r, this.#options.lingerMs));
        } else {
          // Let requests already read in this turn of the event loop join the batch.
          await new Promise((r) => setImmediate(r));
        }
        await this.#send(this.#queue.splice(0, this.#options.maxBatch));
      }
    } finally {
      this.#sending = undefined;
    }
  }

  async #send(batch: Pending[]): Promise<void> {
    const { topic } = this.#options;
    const partitions = batch.map((p) => partitionFor(p.record.key, this.#partitionCount));
    try {
      if (this.#resetProducer) {
        // A failed idempotent batch can leave sequence numbers out of step: start a new producer id.
        await this.#producer.disconnect();
        await this.#producer.connect();
        this.#resetProducer = false;
      }
      const metadata = await this.#producer.sendBatch({
        acks: -1,
        topicMessages: [{
          topic,
          messages: batch.map(({ record }, i) => ({
            key: record.key,
            value: record.value,
            partition: partitions[i],
            headers: {
              ...record.headers,
              [EVENT_ID_HEADER]: record.eventId,
              [FINGERPRINT_HEADER]: record.fingerprint,
            },
          })),
        }],
      });
      const next = new Map(metadata.map((m) => [m.partition, BigInt(m.baseOffset ?? "0")]));
      const now = Date.now();
      batch.forEach(({ record, resolve }, i) => {
        const partition = partitions[i];
        const offset = next.get(partition)!;
        next.set(partition, offset + 1n);
        const result = { topic, partition, offset: String(offset), duplicate: false };
        this.#dedup.remember(record.eventId, {
          fingerprint: record.fingerprint,
          topic,
          partition,
          offset: result.offset,
          at: now,
        });
        resolve(result);
      });
    } catch (error) {
      this.#resetProducer = true;
      this.#logger.log("error", "Kafka produce failed after retries", {
        component: "kafka",
        records: batch.length,
        error: String(error),
      });
      const failure = new EventLogUnavailableError("Kafka did not acknowledge the write", {
        cause: error,
      });
      for (const p of batch) p.reject(failure);
    }
  }
}

function toStoredRecord(topic: string, partition: number, message: KafkaMessage): StoredRecord {
  const headers: Record<string, string> = {};
  for (const name of Object.keys(message.headers ?? {})) {
    const text = headerText(message.headers, name);
    if (text !== undefined) headers[name] = text;
  }
  return {
    topic,
    partition,
    offset: BigInt(message.offset),
    key: message.key?.toString() ?? "",
    value: message.value?.toString() ?? "",
    headers,
  };
}

function headerText(headers: IHeaders | undefined, name: string): string | undefined {
  const value = headers?.[name];
  if (value === undefined) return undefined;
  const one = Array.isArray(value) ? value[0] : value;
  return one === undefined ? undefined : one.toString();
}

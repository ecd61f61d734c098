/**
 * Consumer-group membership on Kafka (kafkajs): the group's processes share
 * the partitions, and each resumes a partition at its committed offset.
 * Plain reads and the write path use `@platformatic/kafka`; groups still use
 * kafkajs until their move is measured (see the README's client comparison).
 *
 * @module
 */
import { type IHeaders, type ISocketFactory, Kafka, type KafkaMessage, logLevel } from "kafkajs";
import "./kafkajs_patch.ts";
import { connect as connectTcp, isIP } from "node:net";
import { connect as connectTls } from "node:tls";
import type { Logger } from "../../telemetry/logger.ts";
import type {
  GroupHandler,
  GroupMembership,
  GroupStart,
  PartitionOffsets,
  StoredRecord,
} from "../event_log.ts";
import type { KafkaConnection } from "./client.ts";

/** Longest a group fetch waits at the broker, in ms. @default 50 */
export const DEFAULT_GROUP_MAX_WAIT_MS = 50;
/**
 * How long a member may go silent before the group gives its partitions to
 * the others, in ms (kafkajs' default is 30 s): a gateway killed with -9
 * holds its partitions back this long. @default 10000
 */
export const DEFAULT_GROUP_SESSION_TIMEOUT_MS = 10_000;
/** Heartbeats per session timeout, as Kafka recommends (at most a third of it). */
const HEARTBEATS_PER_SESSION = 3;
/** Attempts at a group's committed offsets while the coordinator is loading or moving. */
const OFFSET_FETCH_ATTEMPTS = 8;
/** First wait between those attempts, in ms; doubles each time. */
const OFFSET_FETCH_FIRST_WAIT_MS = 100;

/** TCP keep-alive probe delay of group connections, in ms. */
const KEEP_ALIVE_MS = 60_000;

/**
 * kafkajs' socket factory with Nagle's algorithm turned off: small fetch and
 * commit requests go out at once instead of waiting on the peer's delayed ACK.
 */
const noDelaySockets: ISocketFactory = ({ host, port, ssl, onConnect }) => {
  const socket = ssl
    ? connectTls({ host, port, ...(isIP(host) ? {} : { servername: host }), ...ssl }, onConnect)
    : connectTcp({ host, port }, onConnect);
  socket.setNoDelay(true);
  socket.setKeepAlive(true, KEEP_ALIVE_MS);
  return socket;
};

/** Joins consumer groups on one Kafka cluster. */
export class GroupConsumers {
  readonly #kafka: Kafka;
  readonly #logger: Logger;
  readonly #members = new Set<{ disconnect(): Promise<void> }>();

  /** Group membership over `connection`. */
  constructor(connection: KafkaConnection, logger: Logger) {
    this.#logger = logger;
    this.#kafka = new Kafka({
      clientId: `${connection.clientId}-group`,
      brokers: connection.brokers,
      socketFactory: noDelaySockets,
      connectionTimeout: connection.connectionTimeoutMs,
      requestTimeout: connection.requestTimeoutMs,
      retry: { retries: connection.retries, initialRetryTime: connection.initialRetryMs },
      logLevel: logLevel.ERROR,
      logCreator: () => ({ namespace, log }) => {
        logger.log("warn", `kafkajs: ${log.message}`, { component: "kafka", namespace });
      },
    });
  }

  /**
   * Joins `group` on `topic`. A new group starts at `start` of `offsets` (the
   * log's start or end now): those offsets are sought before the first join
   * and committed right after it, so nothing published after `ready` is
   * missed, even across restarts.
   */
  async join(
    topic: string,
    group: string,
    start: GroupStart,
    offsets: () => Promise<PartitionOffsets[]>,
    handler: GroupHandler,
  ): Promise<GroupMembership> {
    const [committed] = await this.#committed(topic, group);
    const isNew = !committed?.partitions.some((p) => p.offset !== "-1");
    const starts = isNew ? await offsets() : [];
    const startOf = (o: PartitionOffsets) => String(start === "earliest" ? o.low : o.high);
    let firstJoin = true;
    const consumer = this.#kafka.consumer({
      groupId: group,
      maxWaitTimeInMs: DEFAULT_GROUP_MAX_WAIT_MS,
      sessionTimeout: DEFAULT_GROUP_SESSION_TIMEOUT_MS,
      heartbeatInterval: DEFAULT_GROUP_SESSION_TIMEOUT_MS / HEARTBEATS_PER_SESSION,
    });
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
    this.#members.add(consumer);
    return {
      pause: (partition) => consumer.pause([{ topic, partitions: [partition] }]),
      resume: (partition) => consumer.resume([{ topic, partitions: [partition] }]),
      close: async () => {
        this.#members.delete(consumer);
        await consumer.disconnect();
      },
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

  /**
   * The group's committed offsets. A coordinator that is loading (a fresh or
   * restarted cluster) or moving answers with a retriable error for a while:
   * ask again with backoff before giving up.
   */
  async #committed(topic: string, group: string) {
    const admin = this.#kafka.admin();
    await admin.connect();
    try {
      for (let attempt = 1;; attempt++) {
        try {
          return await admin.fetchOffsets({ groupId: group, topics: [topic] });
        } catch (error) {
          const retriable = (error as { retriable?: boolean }).retriable === true;
          if (!retriable || attempt >= OFFSET_FETCH_ATTEMPTS) throw error;
          await new Promise((r) => setTimeout(r, OFFSET_FETCH_FIRST_WAIT_MS * 2 ** attempt));
        }
      }
    } finally {
      await admin.disconnect();
    }
  }

  /** Leaves every group. */
  async close(): Promise<void> {
    await Promise.allSettled([...this.#members].map((m) => m.disconnect()));
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

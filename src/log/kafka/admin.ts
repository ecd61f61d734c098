/**
 * Topic administration and offset lookups for the Kafka adapter.
 *
 * @module
 */
import { Admin, type Broker } from "@platformatic/kafka";
import type { PartitionOffsets } from "../event_log.ts";
import { clientOptions, type KafkaConnection } from "./client.ts";

/** Kafka's ListOffsets timestamp for "the end of the log". */
const LATEST = -1n;
/** Kafka's ListOffsets timestamp for "the start of the log". */
const EARLIEST = -2n;

/** Creates the topic when missing and answers where its partitions begin and end. */
export class TopicAdmin {
  readonly #admin: Admin;

  /** An admin client for `connection`; it connects on first use. */
  constructor(connection: KafkaConnection) {
    this.#admin = new Admin(clientOptions(connection, "admin"));
  }

  /** Creates `topic` when it does not exist; resolves with its partition count. */
  async ensureTopic(topic: string, partitions: number, replicas: number): Promise<number> {
    const topics = await this.#admin.listTopics();
    if (!topics.includes(topic)) {
      await this.#admin.createTopics({ topics: [topic], partitions, replicas }).catch(
        async (error) => {
          // Another gateway may have created it in the meantime.
          if (!(await this.#admin.listTopics()).includes(topic)) throw error;
        },
      );
    }
    return await this.partitionCount(topic, true);
  }

  /** The partition count of `topic`, from fresh metadata when `force`. */
  async partitionCount(topic: string, force = false): Promise<number> {
    const metadata = await this.#admin.metadata({ topics: [topic], forceUpdate: force });
    const t = metadata.topics.get(topic);
    if (!t) throw new Error(`Topic ${topic} has no metadata`);
    return t.partitionsCount;
  }

  /**
   * The broker leading each partition of `topic`, from fresh metadata.
   * Rejects when a partition has no leader (an election under way).
   */
  async leaders(topic: string): Promise<Map<number, Broker>> {
    const metadata = await this.#admin.metadata({ topics: [topic], forceUpdate: true });
    const t = metadata.topics.get(topic);
    if (!t) throw new Error(`Topic ${topic} has no metadata`);
    return new Map(t.partitions.map(({ leader }, partition) => {
      const broker = metadata.brokers.get(leader);
      if (!broker) throw new Error(`Partition ${partition} of ${topic} has no leader`);
      return [partition, broker];
    }));
  }

  /** Whether `topic` exists (a metadata request for all topics, which creates none). */
  async hasTopic(topic: string): Promise<boolean> {
    return (await this.#admin.listTopics()).includes(topic);
  }

  /** Start and end offsets of every partition of `topic`. */
  async offsets(topic: string, partitions: number): Promise<PartitionOffsets[]> {
    const [low, high] = await Promise.all([
      this.#lookup(topic, partitions, EARLIEST),
      this.#lookup(topic, partitions, LATEST),
    ]);
    return [...high.keys()].sort((a, b) => a - b).map((partition) => ({
      partition,
      low: low.get(partition) ?? 0n,
      high: high.get(partition)!,
    }));
  }

  /**
   * Per partition, the first offset appended at or after `timestamp` (ms),
   * or the end of the log when nothing is that recent.
   */
  async offsetsSince(
    topic: string,
    partitions: number,
    timestamp: number,
  ): Promise<Map<number, bigint>> {
    const [since, end] = await Promise.all([
      this.#lookup(topic, partitions, BigInt(timestamp)),
      this.#lookup(topic, partitions, LATEST),
    ]);
    return new Map([...end].map(([p, high]) => {
      const offset = since.get(p) ?? -1n;
      return [p, offset < 0n ? high : offset];
    }));
  }

  /** Closes the connections. */
  async close(): Promise<void> {
    await this.#admin.close();
  }

  async #lookup(
    topic: string,
    partitions: number,
    timestamp: bigint,
  ): Promise<Map<number, bigint>> {
    const [listed] = await this.#admin.listOffsets({
      topics: [{
        name: topic,
        partitions: Array.from({ length: partitions }, (_, partitionIndex) => ({
          partitionIndex,
          timestamp,
        })),
      }],
    });
    return new Map(listed.partitions.map((p) => [p.partitionIndex, p.offset]));
  }
}

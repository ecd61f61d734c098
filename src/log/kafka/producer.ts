/**
 * The Kafka write path: an idempotent `@platformatic/kafka` producer
 * (acks=all) with one queue per partition. Each partition has at most one
 * batch in flight, so a partition whose leader is gone holds back only its
 * own records; the others keep flowing. Every record is answered by its
 * deadline: with its offset, or with {@linkcode PublishTimeoutError} /
 * {@linkcode ProduceFailedError}, after which its fate is unknown until the
 * log is read (the caller settles that).
 *
 * @module
 */
import { Producer, stringSerializers } from "@platformatic/kafka";
import { clientOptions, type KafkaConnection } from "./client.ts";

/** Most records in one produce request, per partition. @default 500 */
export const DEFAULT_MAX_BATCH = 500;

/** A record for one partition. */
export interface PartitionMessage {
  /** Partition key. */
  key: string;
  /** The envelope JSON. */
  value: string;
  /** Record headers. */
  headers: Record<string, string>;
}

/** Options of {@linkcode PartitionedProducer}. */
export interface PartitionedProducerOptions extends KafkaConnection {
  /** Topic written. */
  topic: string;
  /** Most records in one batch per partition. */
  maxBatch: number;
  /** How long a batch waits for more records before it is sent, in ms (0: one event-loop turn). */
  lingerMs: number;
  /** Longest a record waits for its answer, in ms. */
  publishTimeoutMs: number;
}

/** The record was not acknowledged by its deadline; it may still be written. */
export class PublishTimeoutError extends Error {
  /** Trying again later may succeed. */
  readonly retriable = true;
  /** Whether the record was handed to a broker (if not, it was withdrawn and is not written). */
  readonly sent: boolean;
  /** `sent` says whether the record may still be written. */
  constructor(message: string, sent: boolean, options?: ErrorOptions) {
    super(message, options);
    this.name = "PublishTimeoutError";
    this.sent = sent;
  }
}

/** Kafka did not acknowledge the record's batch; it may or may not be written. */
export class ProduceFailedError extends Error {
  /** Trying again later may succeed. */
  readonly retriable = true;
  /** The batch failed; `cause` says how. */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "ProduceFailedError";
  }
}

interface Pending {
  message: PartitionMessage;
  resolve: (offset: bigint) => void;
  reject: (error: Error) => void;
  timer: ReturnType<typeof setTimeout>;
  sent: boolean;
  settled: boolean;
  /** Told the batch's real outcome when it arrives after the deadline. */
  late?: (outcome: bigint | Error) => void;
}

/** What {@linkcode PartitionedProducer} needs of a Kafka producer (tests hand in a fake). */
export type ProducerClient = Pick<Producer<string, string, string, string>, "send" | "close">;

/** Writes records to chosen partitions of one topic, each partition on its own. */
export class PartitionedProducer {
  readonly #options: PartitionedProducerOptions;
  readonly #producer: ProducerClient;
  readonly #queues = new Map<number, Pending[]>();
  readonly #inFlight = new Map<number, Promise<void>>();

  /**
   * A producer for `options.topic` on an idempotent `@platformatic/kafka`
   * producer (acks=all) that connects on first use, or on `client`.
   */
  constructor(options: PartitionedProducerOptions, client?: ProducerClient) {
    this.#options = options;
    this.#producer = client ?? new Producer({
      ...clientOptions(options, "producer"),
      idempotent: true,
      acks: -1,
      autocreateTopics: false,
      serializers: stringSerializers,
    });
  }

  /**
   * Appends `message` to `partition` and resolves with its offset. Rejects
   * after `timeoutMs` (the publish timeout by default) with
   * {@linkcode PublishTimeoutError}, or earlier with
   * {@linkcode ProduceFailedError}; `late` then hears the real outcome of a
   * record that was sent, if it ever arrives.
   */
  send(
    partition: number,
    message: PartitionMessage,
    late?: (outcome: bigint | Error) => void,
    timeoutMs: number = this.#options.publishTimeoutMs,
  ): Promise<bigint> {
    return new Promise((resolve, reject) => {
      const pending: Pending = {
        message,
        resolve,
        reject,
        sent: false,
        settled: false,
        late,
        timer: setTimeout(() => this.#expire(partition, pending), Math.max(0, timeoutMs)),
      };
      const queue = this.#queues.get(partition) ?? [];
      queue.push(pending);
      this.#queues.set(partition, queue);
      if (!this.#inFlight.has(partition)) this.#schedule(partition);
    });
  }

  /** Waits for the batches in flight, then closes the connections. */
  async close(): Promise<void> {
    await Promise.allSettled(this.#inFlight.values());
    await this.#producer.close(true);
  }

  #expire(partition: number, pending: Pending): void {
    if (pending.settled) return;
    pending.settled = true;
    if (!pending.sent) {
      // Never handed to a broker: withdraw it, so it is certainly not written.
      const queue = this.#queues.get(partition) ?? [];
      const at = queue.indexOf(pending);
      if (at >= 0) queue.splice(at, 1);
    }
    pending.reject(
      new PublishTimeoutError(
        `Kafka did not acknowledge the record within ${this.#options.publishTimeoutMs} ms`,
        pending.sent,
      ),
    );
  }

  #schedule(partition: number): void {
    const run = async () => {
      const delay = this.#options.lingerMs;
      await new Promise((r) => delay > 0 ? setTimeout(r, delay) : setImmediate(r));
      for (;;) {
        const queue = this.#queues.get(partition) ?? [];
        if (queue.length === 0) break;
        await this.#sendBatch(partition, queue.splice(0, this.#options.maxBatch));
      }
    };
    const flight = run().finally(() => this.#inFlight.delete(partition));
    this.#inFlight.set(partition, flight);
  }

  async #sendBatch(partition: number, batch: Pending[]): Promise<void> {
    const { topic } = this.#options;
    for (const p of batch) p.sent = true;
    let outcome: (i: number) => bigint | Error;
    try {
      const result = await this.#producer.send({
        messages: batch.map(({ message }) => ({
          topic,
          partition,
          key: message.key,
          value: message.value,
          headers: message.headers,
        })),
      });
      // Every partition of a produce result is checked: a record is answered only with an offset
      // the broker gave for its own partition.
      const base = result.offsets?.find((o) => o.topic === topic && o.partition === partition)
        ?.offset;
      if (base === undefined || base < 0n) {
        const missing = new ProduceFailedError(
          `Kafka's produce result has no offset for partition ${partition}`,
        );
        outcome = () => missing;
      } else {
        outcome = (i) => base + BigInt(i);
      }
    } catch (error) {
      const failed = new ProduceFailedError("Kafka did not acknowledge the write", {
        cause: error,
      });
      outcome = () => failed;
    }
    batch.forEach((p, i) => {
      clearTimeout(p.timer);
      const result = outcome(i);
      if (p.settled) return p.late?.(result);
      p.settled = true;
      if (result instanceof Error) p.reject(result);
      else p.resolve(result);
    });
  }
}

/**
 * One partition's Kafka transactions: a transactional `@platformatic/kafka`
 * producer (idempotent, acks=all) under a transactional id of its own, so a
 * stuck partition never holds back another's transaction.
 *
 * A transaction whose records were all written is aborted with `EndTxn`
 * ({@linkcode TransactionalPartition.abort}). After a failure the producer's
 * state is unknown: {@linkcode TransactionalPartition.reset} drops it and
 * starts a new one under the same id at once, and the new producer's
 * `InitProducerId` makes the coordinator abort whatever the old one left
 * open, and fences it (a zombie write is refused). A process restarted with
 * the same transactional id fences its predecessor the same way.
 *
 * @module
 */
import { Producer, stringSerializers } from "@platformatic/kafka";
import { backoffDelay } from "../../backoff.ts";
import { clientOptions, type KafkaConnection } from "./client.ts";

/**
 * Wait before the first retry of a request refused with CONCURRENT_TRANSACTIONS
 * (the previous commit's markers are still being written: it clears in a few
 * ms), in ms; it grows by this much per attempt, up to {@linkcode MAX_CONCURRENT_RETRY_MS}.
 */
const CONCURRENT_TRANSACTIONS_RETRY_MS = 2;
const MAX_CONCURRENT_RETRY_MS = 100;
/**
 * Longest wait between the library's retries of other failures (a coordinator
 * or leader that moved), in ms: a lane retries within this of the cluster's
 * recovery, at 10 requests a second at most while it lasts. After a leader
 * kill, a lane's produce went to the dead leader (its metadata was not
 * refreshed yet) about 1.2 s after the kill, 0.7 s after the new leader was
 * elected: each retry's wait adds to the partition's pause.
 */
const MAX_RETRY_MS = 100;
/** Retries of a request inside the library (about 1.6 s of CONCURRENT_TRANSACTIONS). */
const TRANSACTION_RETRIES = 40;

/** A record for one partition. */
export interface PartitionMessage {
  /** Partition key. */
  key: string;
  /** The envelope JSON. */
  value: string;
  /** Record headers. */
  headers: Record<string, string>;
}

/** What {@linkcode PartitionedProducer} needs of one partition's transactions (tests hand in a fake). */
export interface PartitionTransactions {
  /** Opens a transaction, writes `messages` in it and resolves with the first record's offset. */
  write(messages: readonly PartitionMessage[]): Promise<bigint>;
  /** Commits the transaction `write` opened. */
  commit(): Promise<void>;
  /** Aborts the transaction `write` opened, keeping the producer ({@linkcode reset} if that fails). */
  abort(): Promise<void>;
  /** Abandons the open transaction: it is aborted and none of its records is ever read. */
  reset(): void;
  /** Connects and readies the next transaction ahead of the first write (InitProducerId). */
  warm(): void;
  /** Closes the connections (an open transaction is aborted by the broker's transaction timeout). */
  close(): Promise<void>;
}

/** Options of {@linkcode TransactionalPartition}. */
export interface TransactionalPartitionOptions extends KafkaConnection {
  /** Topic written. */
  topic: string;
  /** Partition written. */
  partition: number;
  /** The producer's transactional id: unique among live processes, the same after a restart. */
  transactionalId: string;
  /** Longest a transaction may stay open before the coordinator aborts it, in ms. */
  transactionTimeoutMs: number;
}

/** A write whose producer was replaced ({@linkcode PartitionTransactions.reset}) while it ran. */
export class AbandonedTransactionError extends Error {
  /** The write was given up: its transaction is aborted. */
  constructor() {
    super("The transaction was abandoned: its producer was replaced");
    this.name = "AbandonedTransactionError";
  }
}

/** The error chain of a `@platformatic/kafka` failure includes the Kafka error `id`. */
function hasKafkaError(error: unknown, id: string): boolean {
  for (let e: unknown = error, depth = 0; e instanceof Error && depth < 8; depth++) {
    if ((e as { apiId?: string }).apiId === id) return true;
    const nested = (e as { errors?: unknown }).errors;
    if (Array.isArray(nested) && nested.some((n) => hasKafkaError(n, id))) return true;
    e = e.cause;
  }
  return false;
}

/** Kafka transactions on one partition of one topic. */
export class TransactionalPartition implements PartitionTransactions {
  readonly #options: TransactionalPartitionOptions;
  #producer: Producer<string, string, string, string>;
  /** The transaction to write in next, begun ahead so that a new producer fences the old one at once. */
  #next?: ReturnType<Producer<string, string, string, string>["beginTransaction"]>;
  #open?: Awaited<ReturnType<Producer<string, string, string, string>["beginTransaction"]>>;

  /** A partition's transactions; connects on first use. */
  constructor(options: TransactionalPartitionOptions) {
    this.#options = options;
    this.#producer = this.#create();
  }

  async write(messages: readonly PartitionMessage[]): Promise<bigint> {
    const { topic, partition } = this.#options;
    const producer = this.#producer;
    const begun = this.#next ?? this.#begin();
    this.#next = undefined;
    const transaction = await begun;
    // Reset meanwhile: this transaction is abandoned, and the state belongs to the new producer.
    if (this.#producer !== producer) throw new AbandonedTransactionError();
    this.#open = transaction;
    const result = await transaction.send({
      messages: messages.map((m) => ({ topic, partition, ...m })),
    });
    if (this.#producer !== producer) throw new AbandonedTransactionError();
    const base = result.offsets?.find((o) => o.topic === topic && o.partition === partition)
      ?.offset;
    if (base === undefined || base < 0n) {
      throw new Error(`Kafka's produce result has no offset for partition ${partition}`);
    }
    return base;
  }

  async commit(): Promise<void> {
    const open = this.#open;
    if (!open) throw new Error("No transaction is open");
    await open.commit();
    this.#open = undefined;
  }

  async abort(): Promise<void> {
    const open = this.#open;
    this.#open = undefined;
    if (!open) return;
    try {
      await open.abort();
    } catch {
      this.reset();
    }
  }

  warm(): void {
    if (!this.#open) this.#next ??= this.#begin();
  }

  reset(): void {
    const old = this.#producer;
    this.#open = undefined;
    this.#producer = this.#create();
    // Begun now, not at the next write: its InitProducerId aborts the old transaction, which
    // otherwise holds back every read_committed reader of the partition until it times out.
    this.#next = this.#begin();
    void old.close(true).catch(() => {});
  }

  async close(): Promise<void> {
    await this.#next?.catch(() => {});
    await this.#producer.close(true);
  }

  /** Begins a transaction; a producer whose begin failed is replaced (the library keeps it stuck). */
  #begin(): ReturnType<Producer<string, string, string, string>["beginTransaction"]> {
    const producer = this.#producer;
    const begun = producer.beginTransaction();
    begun.catch(() => {
      if (this.#next === begun) this.#next = undefined;
      if (this.#producer !== producer) return;
      this.#producer = this.#create();
      void producer.close(true).catch(() => {});
    });
    return begun;
  }

  #create(): Producer<string, string, string, string> {
    const { initialRetryMs } = this.#options;
    return new Producer({
      ...clientOptions(this.#options, `producer-${this.#options.partition}`),
      idempotent: true,
      acks: -1,
      transactionalId: this.#options.transactionalId,
      // InitProducerId as a new producer (-1): the library's default (0) is taken by the
      // coordinator for an earlier producer of this id, and refused as fenced once one existed.
      producerId: -1n,
      producerEpoch: -1,
      // The coordinator's transaction timeout (InitProducerId) and the brokers' produce timeout.
      timeout: this.#options.transactionTimeoutMs,
      autocreateTopics: false,
      serializers: stringSerializers,
      retries: Math.max(TRANSACTION_RETRIES, this.#options.retries),
      retryDelay: (_client, _operation, attempt, _retries, error) =>
        hasKafkaError(error, "CONCURRENT_TRANSACTIONS")
          ? Math.min(MAX_CONCURRENT_RETRY_MS, CONCURRENT_TRANSACTIONS_RETRY_MS * attempt)
          : backoffDelay(attempt - 1, { firstMs: initialRetryMs, maxMs: MAX_RETRY_MS }),
    });
  }
}

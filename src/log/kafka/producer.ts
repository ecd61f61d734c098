/**
 * The Kafka write path: one queue per partition, and each batch written as
 * one Kafka transaction ({@linkcode TransactionalPartition}). Each partition
 * has at most {@linkcode DEFAULT_LANES} batches in flight, each on a
 * transactional producer of its own, so a partition whose leader is gone
 * holds back only its own records; the others keep flowing.
 *
 * A batch is committed only while every record in it still waits for its
 * answer. A record answered `503` at its deadline is in an aborted
 * transaction, so no reader (all read committed records only) ever sees it,
 * and a retry of it, on this process or another, writes the one copy. Only a
 * record whose commit was under way when its deadline passed is in doubt;
 * its error says at which offset ({@linkcode PublishTimeoutError.maybeAt}).
 * Before each commit the caller may name records whose event is already in
 * the partition ({@linkcode EarlierWrites}); the batch is then aborted and
 * those records answered with {@linkcode EarlierWriteError}.
 *
 * @module
 */
import {
  AbandonedTransactionError,
  type PartitionMessage,
  type PartitionTransactions,
  TransactionalPartition,
} from "./transactional_partition.ts";
import type { KafkaConnection } from "./client.ts";

export type { PartitionMessage } from "./transactional_partition.ts";

/** Most records in one produce request, per partition. @default 500 */
export const DEFAULT_MAX_BATCH = 500;
/**
 * Transactions a record is tried in before its failure is answered: a write
 * can fail because the producer's state was lost (a restarted broker), and a
 * new producer then succeeds at once.
 */
const MAX_WRITE_ATTEMPTS = 3;
/**
 * A record is put in a transaction only with at least this much of its time
 * left, in multiples of the partition's recent write-and-commit time (and at
 * least {@linkcode MIN_RESERVE_MS}, at most half the publish timeout); one
 * with less is answered `503` unsent. Otherwise, after a slow spell, the
 * oldest record of every batch expires while it is written, and aborting
 * those batches would write nothing at all.
 */
const RESERVE_FACTOR = 2;
const MIN_RESERVE_MS = 50;
/**
 * The recent write time is the fastest of the partition's last this many
 * writes: a slow spell lasts through all of them, while one write that waited
 * out a broker failure does not. Judged by that one write alone, every record
 * queued behind it with under half the publish timeout left was answered
 * `503` unsent once the cluster had recovered: up to 513 in a leader-kill
 * round of `deno task chaos`.
 */
const RECENT_WRITES = 3;
/**
 * Transactions in flight per partition, each on a producer of its own. Two
 * hide most of a transaction's fixed cost: while one waits for its commit
 * markers (the next transaction of the same producer is refused with
 * CONCURRENT_TRANSACTIONS until they are written), the other writes. The
 * lanes take turns (see {@linkcode PartitionedProducer}).
 * @default 2
 */
export const DEFAULT_LANES = 2;

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
  /** Prefix of the partitions' transactional ids: unique among live processes, kept across restarts. */
  transactionalId: string;
  /** Transactions in flight per partition (default {@linkcode DEFAULT_LANES}). */
  lanes?: number;
}

/** The record was not acknowledged by its deadline. */
export class PublishTimeoutError extends Error {
  /** Trying again later may succeed. */
  readonly retriable = true;
  /**
   * The offset the record has if its transaction's commit, under way at the
   * deadline, goes through; `undefined` when it is certainly not written.
   */
  readonly maybeAt?: bigint;
  /** `maybeAt` is set when the record may still be written there. */
  constructor(message: string, maybeAt?: bigint, options?: ErrorOptions) {
    super(message, options);
    this.name = "PublishTimeoutError";
    this.maybeAt = maybeAt;
  }
}

/** Kafka did not take the record's batch. */
export class ProduceFailedError extends Error {
  /** Trying again later may succeed. */
  readonly retriable = true;
  /**
   * The offset the record has if the commit that failed to answer did go
   * through; `undefined` when its transaction is aborted.
   */
  readonly maybeAt?: bigint;
  /** The batch failed; `cause` says how. */
  constructor(message: string, options?: ErrorOptions & { maybeAt?: bigint }) {
    super(message, options);
    this.name = "ProduceFailedError";
    this.maybeAt = options?.maybeAt;
  }
}

interface Pending {
  message: PartitionMessage;
  resolve: (offset: bigint) => void;
  reject: (error: Error) => void;
  timer: ReturnType<typeof setTimeout>;
  /** Answered already (by its deadline or its batch). */
  settled: boolean;
  /** Transactions it was written in. */
  attempts: number;
  /** When its answer is due (ms since the epoch). */
  deadline: number;
  /** Its offset once the commit of its transaction is under way. */
  committing?: bigint;
  /** Told the batch's real outcome when it arrives after the deadline. */
  late?: (outcome: bigint | Error) => void;
}

/**
 * Before a batch is committed: the indexes of its records whose event was
 * written earlier in the partition (before `base`, its first offset), by any
 * writer. The batch is then aborted and those records are answered with
 * {@linkcode EarlierWriteError}.
 */
export type EarlierWrites = (
  partition: number,
  base: bigint,
  messages: readonly PartitionMessage[],
) => Promise<ReadonlySet<number>>;

/** The event was already written (perhaps not committed yet): look it up instead of writing it. */
export class EarlierWriteError extends Error {
  /** The record is another copy of an earlier one. */
  constructor(options?: ErrorOptions) {
    super("The event was written earlier in its partition", options);
    this.name = "EarlierWriteError";
  }
}

/** Makes the transactions of one lane of one partition (tests hand in fakes). */
export type PartitionFactory = (partition: number, lane: number) => PartitionTransactions;

/**
 * Writes records to chosen partitions of one topic, each partition on its own.
 *
 * A partition's lanes take turns: records go to the idle lane that finished
 * its last transaction longest ago, and a lane that just committed hands the
 * records waiting to an idle lane rather than writing them itself. Only
 * healthy lanes take turns (their last write did not fail); with no healthy
 * lane idle, the first idle lane writes, as before the lanes took turns. A
 * producer's next transaction is refused with CONCURRENT_TRANSACTIONS until
 * the coordinator has written its last commit's markers, and its retry costs
 * more than the transaction: one after another on one producer, transactions
 * of one record took 6.0-6.2 ms at the median; alternating between two, 1.7-1.8
 * ms (the same broker, the same hour).
 */
export class PartitionedProducer {
  readonly #options: PartitionedProducerOptions;
  readonly #factory: PartitionFactory;
  readonly #earlier?: EarlierWrites;
  readonly #lanes: number;
  /** Each lane's transactions and its flight, by `<partition>:<lane>`. */
  readonly #transactionsOf = new Map<string, PartitionTransactions>();
  readonly #inFlight = new Map<string, Promise<void>>();
  /** When each lane's last flight ended (`performance.now()`), by `<partition>:<lane>`. */
  readonly #idleSince = new Map<string, number>();
  /** Lanes whose last write failed (their producer was replaced), by `<partition>:<lane>`. */
  readonly #failed = new Set<string>();
  /** Lanes scheduled to take the queue that have not taken it yet, by `<partition>:<lane>`. */
  readonly #starting = new Set<string>();
  /** The records of writes under way, each with what to do once it is answered at its deadline. */
  readonly #watchers = new Map<Pending, () => void>();
  readonly #queues = new Map<number, Pending[]>();
  /** Each partition's last {@linkcode RECENT_WRITES} write-and-commit times, in ms, newest last. */
  readonly #writeMs = new Map<number, number[]>();

  /**
   * A producer for `options.topic`: per partition and lane, a transactional
   * producer with id `<transactionalId>-<partition>-<lane>` that connects on
   * first use (or what `factory` makes). `earlier`, when given, is asked
   * before each commit.
   */
  constructor(
    options: PartitionedProducerOptions,
    factory?: PartitionFactory,
    earlier?: EarlierWrites,
  ) {
    this.#options = options;
    this.#earlier = earlier;
    this.#lanes = Math.max(1, options.lanes ?? DEFAULT_LANES);
    this.#factory = factory ?? ((partition, lane) =>
      new TransactionalPartition({
        ...options,
        partition,
        transactionalId: `${options.transactionalId}-${partition}-${lane}`,
        transactionTimeoutMs: options.publishTimeoutMs,
      }));
  }

  /**
   * Appends `message` to `partition` and resolves with its offset. Rejects
   * after `timeoutMs` (the publish timeout by default) with
   * {@linkcode PublishTimeoutError}, or earlier with
   * {@linkcode ProduceFailedError}; `late` then hears the real outcome of a
   * record whose commit was under way, when it arrives.
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
        settled: false,
        attempts: 0,
        deadline: Date.now() + Math.max(0, timeoutMs),
        late,
        timer: setTimeout(() => this.#expire(partition, pending), Math.max(0, timeoutMs)),
      };
      this.#enqueue(partition, [pending]);
    });
  }

  /**
   * Readies every lane of partitions `0..partitions-1` ahead of the first
   * publish: each finds its coordinator and gets its producer id now, not
   * while the first records wait (200 ms on one idle broker; seconds on a
   * busy 3-node cluster, past the publish deadline).
   */
  warm(partitions: number): void {
    for (let partition = 0; partition < partitions; partition++) {
      for (let lane = 0; lane < this.#lanes; lane++) this.#transactions(partition, lane).warm();
    }
  }

  /** Waits for the batches in flight, then closes the connections. */
  async close(): Promise<void> {
    await Promise.allSettled(this.#inFlight.values());
    await Promise.allSettled([...this.#transactionsOf.values()].map((p) => p.close()));
  }

  #enqueue(partition: number, records: Pending[]): void {
    const queue = this.#queues.get(partition) ?? [];
    queue.push(...records);
    this.#queues.set(partition, queue);
    // The idle lane that rested longest takes it; when every lane is busy, the first to finish does.
    const lane = this.#restedLane(partition);
    if (lane !== undefined) this.#schedule(partition, lane);
  }

  /**
   * The healthy idle lane of `partition` whose last flight ended longest ago
   * (never: first); with none healthy, the first idle lane unless `healthyOnly`.
   */
  #restedLane(partition: number, healthyOnly = false): number | undefined {
    let rested: number | undefined;
    let firstIdle: number | undefined;
    let since = Infinity;
    for (let lane = 0; lane < this.#lanes; lane++) {
      const key = `${partition}:${lane}`;
      if (this.#inFlight.has(key)) continue;
      firstIdle ??= lane;
      if (this.#failed.has(key)) continue;
      const idle = this.#idleSince.get(key) ?? -Infinity;
      if (idle < since) [rested, since] = [lane, idle];
    }
    return rested ?? (healthyOnly ? undefined : firstIdle);
  }

  #expire(partition: number, pending: Pending): void {
    if (pending.settled) return;
    clearTimeout(pending.timer);
    pending.settled = true;
    this.#watchers.get(pending)?.();
    // Still queued: withdraw it. In a batch being written: that batch is aborted, not committed.
    const queue = this.#queues.get(partition) ?? [];
    const at = queue.indexOf(pending);
    if (at >= 0) queue.splice(at, 1);
    pending.reject(
      new PublishTimeoutError(
        `Kafka did not acknowledge the record within ${this.#options.publishTimeoutMs} ms`,
        pending.committing,
      ),
    );
  }

  #schedule(partition: number, lane: number): void {
    const key = `${partition}:${lane}`;
    const run = async () => {
      const delay = this.#options.lingerMs;
      this.#starting.add(key);
      await new Promise((r) => delay > 0 ? setTimeout(r, delay) : setImmediate(r));
      this.#starting.delete(key);
      for (let first = true;; first = false) {
        const queue = this.#queues.get(partition) ?? [];
        // In the same turn as the check: a record queued after it starts a new flight.
        if (queue.length === 0) return this.#land(key);
        if (!first) {
          // This lane's commit markers are still being written: a rested lane writes sooner, and
          // one already on its way takes the queue anyway.
          if (this.#laneStarting(partition)) return this.#land(key);
          const next = this.#restedLane(partition, true);
          if (next !== undefined) {
            this.#land(key);
            return this.#schedule(partition, next);
          }
        }
        const written = await this.#writeBatch(
          partition,
          this.#transactions(partition, lane),
          this.#take(partition, queue),
        );
        if (written) this.#failed.delete(key);
        else this.#failed.add(key);
      }
    };
    const flight: Promise<void> = run().finally(() => {
      if (this.#inFlight.get(key) === flight) this.#land(key);
    });
    this.#inFlight.set(key, flight);
  }

  /** Whether a lane of `partition` is scheduled and about to take its queue. */
  #laneStarting(partition: number): boolean {
    for (let lane = 0; lane < this.#lanes; lane++) {
      if (this.#starting.has(`${partition}:${lane}`)) return true;
    }
    return false;
  }

  /** Ends the flight of lane `key`: it is idle from now. */
  #land(key: string): void {
    this.#inFlight.delete(key);
    this.#idleSince.set(key, performance.now());
  }

  /** The next batch: records with enough time left; those without are answered unsent. */
  #take(partition: number, queue: Pending[]): Pending[] {
    const reserve = Math.min(
      this.#options.publishTimeoutMs / 2,
      Math.max(MIN_RESERVE_MS, RESERVE_FACTOR * Math.min(...this.#writeMs.get(partition) ?? [0])),
    );
    const now = Date.now();
    const batch: Pending[] = [];
    while (queue.length > 0 && batch.length < this.#options.maxBatch) {
      const next = queue.shift()!;
      if (next.deadline - now >= reserve) batch.push(next);
      else this.#expire(partition, next);
    }
    return batch;
  }

  #transactions(partition: number, lane: number): PartitionTransactions {
    const key = `${partition}:${lane}`;
    let transactions = this.#transactionsOf.get(key);
    if (!transactions) {
      transactions = this.#factory(partition, lane);
      this.#transactionsOf.set(key, transactions);
    }
    return transactions;
  }

  /**
   * Writes `batch` as one transaction, committed only if each of its records
   * still waits; false when the write or the commit failed (the producer was
   * replaced).
   */
  async #writeBatch(
    partition: number,
    transactions: PartitionTransactions,
    batch: Pending[],
  ): Promise<boolean> {
    if (batch.length === 0) return true;
    const started = Date.now();
    let base: bigint;
    for (const p of batch) p.attempts++;
    try {
      base = await this.#untilAnswered(batch, transactions.write(batch.map((p) => p.message)));
    } catch (error) {
      // Aborted: none of it is written. Records with time and attempts left go into a new one.
      this.#wrote(partition, started);
      transactions.reset();
      const again = batch.filter((p) => !p.settled && p.attempts < MAX_WRITE_ATTEMPTS);
      if (again.length > 0) this.#requeue(partition, again);
      const failed = new ProduceFailedError("Kafka did not take the write", { cause: error });
      this.#answer(batch.filter((p) => !again.includes(p)), () => failed);
      return false;
    }
    const copies = this.#earlier
      ? await this.#earlier(partition, base, batch.map((p) => p.message))
      : undefined;
    if (copies && copies.size > 0) {
      // Another write of the same event came first: this one is aborted, and its caller looks the
      // event up; the rest of the batch goes into the next transaction.
      this.#wrote(partition, started);
      await transactions.abort();
      const copy = new EarlierWriteError();
      this.#answer(batch.filter((_, i) => copies.has(i)), () => copy);
      const rest = batch.filter((p, i) => !copies.has(i) && !p.settled);
      if (rest.length > 0) this.#requeue(partition, rest);
      return true;
    }
    const waiting = batch.filter((p) => !p.settled);
    if (waiting.length < batch.length) {
      // Some were answered 503 at their deadline: the transaction is aborted, and the records that
      // still wait go into the next one.
      this.#wrote(partition, started);
      await transactions.abort();
      if (waiting.length > 0) this.#requeue(partition, waiting);
      return true;
    }
    batch.forEach((p, i) => (p.committing = base + BigInt(i)));
    try {
      await transactions.commit();
    } catch (error) {
      // Kafka may have committed it or not: the caller settles that by reading the partition.
      transactions.reset();
      this.#answer(batch, (i) =>
        new ProduceFailedError("Kafka did not confirm the commit", {
          cause: error,
          maybeAt: base + BigInt(i),
        }));
      return false;
    } finally {
      this.#wrote(partition, started);
    }
    this.#answer(batch, (i) => base + BigInt(i));
    return true;
  }

  /**
   * Resolves as `write` does, or rejects with {@linkcode AbandonedTransactionError}
   * once every record of `batch` has been answered at its deadline. While
   * brokers are down the client library retries a write for seconds: a lane
   * must not wait that out for records nobody waits for any more, or the
   * records queued behind them miss their deadlines too, after the brokers are
   * back. The caller then replaces the producer, which aborts the write.
   */
  async #untilAnswered<T>(batch: Pending[], write: Promise<T>): Promise<T> {
    const abandoned = Promise.withResolvers<never>();
    abandoned.promise.catch(() => {});
    write.catch(() => {}); // once abandoned, how it ends is nobody's concern
    const check = () => {
      if (batch.every((p) => p.settled)) abandoned.reject(new AbandonedTransactionError());
    };
    for (const p of batch) this.#watchers.set(p, check);
    try {
      return await Promise.race([write, abandoned.promise]);
    } finally {
      for (const p of batch) this.#watchers.delete(p);
    }
  }

  /** Notes how long a write to `partition` that began at `started` took. */
  #wrote(partition: number, started: number): void {
    const times = this.#writeMs.get(partition) ?? [];
    times.push(Date.now() - started);
    if (times.length > RECENT_WRITES) times.shift();
    this.#writeMs.set(partition, times);
  }

  /** Puts records that wait back at the head of the queue, for the next transaction. */
  #requeue(partition: number, records: Pending[]): void {
    const queue = this.#queues.get(partition) ?? [];
    queue.unshift(...records);
    this.#queues.set(partition, queue);
  }

  #answer(batch: Pending[], outcome: (i: number) => bigint | Error): void {
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

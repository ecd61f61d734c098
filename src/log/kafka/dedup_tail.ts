/**
 * Keeps this process's dedup window in step with the topic: loads the last
 * window of every partition (from the offsets at now - window to the end,
 * record headers only, {@linkcode loadWindow}) and then tails it, so ids
 * written by other gateway processes are known here too. A projection of the
 * log, never a source of truth; its reader owns its offsets, so a broker
 * failure never makes it read anything twice or skip.
 *
 * The tail also reads transactions still open (an uncommitted read): an id
 * in one is "pending" until its transaction's marker, and a write of that id
 * waits for the outcome ({@linkcode DedupTail.pending}). That closes the one
 * gap transactions leave: a gateway whose commit was not confirmed in time
 * answered `503`, and the commit goes through later (the coordinator lost
 * its quorum, two brokers down); the client's retry on another gateway then
 * finds the id pending instead of writing a second copy.
 *
 * @module
 */
import type { Logger } from "../../telemetry/logger.ts";
import type { DedupWindow } from "../dedup_window.ts";
import type { TopicAdmin } from "./admin.ts";
import {
  EVENT_ID_HEADER,
  type FetchedRecord,
  FINGERPRINT_HEADER,
  type KafkaConnection,
  type TransactionalFetchedRecord,
} from "./client.ts";
import { KafkaReader } from "./reader.ts";
import { loadWindow } from "./window_loader.ts";

/**
 * The tail's fetches wait at the broker for this many bytes (about 50
 * records), up to {@linkcode DEDUP_FETCH_MAX_WAIT_MS}. Answering at the first
 * record, as subscribers' readers do, cost one fetch per publish or two under
 * load: a tenth of the gateway's CPU and more of the broker's at 6,000
 * publishes/s. @default 32 KiB
 */
export const DEDUP_FETCH_MIN_BYTES = 32 * 1024;
/**
 * Longest a tail fetch waits for those bytes, in ms: how much later than a
 * subscriber the tail may learn another process's write. A client's retry on
 * another process comes after an answer or a timeout, seconds later. @default 20
 */
export const DEDUP_FETCH_MAX_WAIT_MS = 20;

/** Options of {@linkcode DedupTail.start}. */
export interface DedupTailOptions {
  /** How to reach the brokers. */
  connection: KafkaConnection;
  /** Topic tailed. */
  topic: string;
  /** Its partition count. */
  partitions: number;
  /** How far back the window reaches, in ms. */
  windowMs: number;
  /** Structured logger. */
  logger: Logger;
}

/** Tails the topic into a {@linkcode DedupWindow}. */
export class DedupTail {
  readonly #reader: KafkaReader;
  /** Waiters for a partition to be read up to an offset. */
  readonly #waiters = new Set<{ partition: number; until: bigint; done: () => void }>();
  /** Records of transactions still open, by partition and producer. */
  readonly #open = new Map<string, TransactionalFetchedRecord[]>();
  /** Event ids in transactions still open: in how many, and what resolves when the last ends. */
  readonly #pending = new Map<string, { open: number; ended: PromiseWithResolvers<void> }>();

  private constructor(
    options: DedupTailOptions,
    window: DedupWindow,
    from: Map<number, bigint>,
  ) {
    this.#reader = new KafkaReader({
      connection: options.connection,
      topic: options.topic,
      from,
      logger: options.logger,
      role: "dedup",
      uncommitted: true,
      minBytes: DEDUP_FETCH_MIN_BYTES,
      maxWaitMs: DEDUP_FETCH_MAX_WAIT_MS,
      onRecords: (_, records) => {
        for (const record of records) this.#read(window, record);
      },
      onProgress: (partition) => this.#progress(partition),
    });
  }

  /**
   * Loads the window into `window`, resolving once everything written before
   * the call has been read, and goes on tailing.
   */
  static async start(
    options: DedupTailOptions,
    admin: TopicAdmin,
    window: DedupWindow,
  ): Promise<DedupTail> {
    const { connection, topic, partitions, windowMs } = options;
    const [from, ends, leaders] = await Promise.all([
      admin.offsetsSince(topic, partitions, Date.now() - windowMs),
      admin.offsets(topic, partitions),
      admin.leaders(topic),
    ]);
    const ranges = new Map(ends.map(({ partition, high }) => [
      partition,
      { from: from.get(partition) ?? high, until: high },
    ]));
    const loaded = await loadWindow({ connection, topic, ranges, leaders }, window);
    const tail = new DedupTail(options, window, loaded);
    await tail.#reader.start();
    return tail;
  }

  /**
   * Resolves once `partition` has been read up to (not including) `offset`:
   * every record before it is then in the window (committed) or in an open
   * transaction ({@linkcode DedupTail.pending}).
   */
  readTo(partition: number, offset: bigint): Promise<void> {
    return this.#readUpTo(partition, offset);
  }

  /** Whether `eventId` is in a transaction still open, in `partition` before `offset`. */
  openBefore(eventId: string, partition: number, offset: bigint): boolean {
    if (!this.#pending.has(eventId)) return false;
    for (const records of this.#open.values()) {
      for (const r of records) {
        if (
          r.headers[EVENT_ID_HEADER] === eventId && r.partition === partition && r.offset < offset
        ) {
          return true;
        }
      }
    }
    return false;
  }

  /**
   * When `eventId` is in a transaction still open: resolves once that ends
   * (committed: the id is in the window; aborted: it is not). Otherwise
   * `undefined`.
   */
  pending(eventId: string): Promise<void> | undefined {
    return this.#pending.get(eventId)?.ended.promise;
  }

  /** Stops tailing. */
  async close(): Promise<void> {
    for (const w of this.#waiters) w.done();
    for (const p of this.#pending.values()) p.ended.resolve();
    await this.#reader.close();
  }

  #read(window: DedupWindow, record: TransactionalFetchedRecord): void {
    if (record.producerId === undefined) return remember(window, record);
    const key = `${record.partition}:${record.producerId}`;
    if (record.marker === undefined) {
      const open = this.#open.get(key) ?? [];
      open.push(record);
      this.#open.set(key, open);
      const eventId = record.headers[EVENT_ID_HEADER];
      if (eventId === undefined) return;
      const pending = this.#pending.get(eventId) ?? { open: 0, ended: Promise.withResolvers() };
      pending.open++;
      this.#pending.set(eventId, pending);
      return;
    }
    const ended = this.#open.get(key) ?? [];
    this.#open.delete(key);
    for (const r of ended) {
      if (record.marker === "commit") remember(window, r);
      const eventId = r.headers[EVENT_ID_HEADER];
      const pending = eventId === undefined ? undefined : this.#pending.get(eventId);
      // Another transaction still open may hold it too (two gateways wrote it at once).
      if (!pending || --pending.open > 0) continue;
      this.#pending.delete(eventId!);
      pending.ended.resolve();
    }
  }

  #readUpTo(partition: number, until: bigint): Promise<void> {
    if ((this.#reader.next(partition) ?? 0n) >= until) return Promise.resolve();
    return new Promise((done) => this.#waiters.add({ partition, until, done }));
  }

  #progress(partition: number): void {
    const next = this.#reader.next(partition) ?? 0n;
    for (const w of this.#waiters) {
      if (w.partition === partition && next >= w.until) {
        this.#waiters.delete(w);
        w.done();
      }
    }
  }
}

function remember(window: DedupWindow, record: FetchedRecord): void {
  const eventId = record.headers[EVENT_ID_HEADER];
  const fingerprint = record.headers[FINGERPRINT_HEADER];
  if (eventId === undefined || fingerprint === undefined) return;
  window.remember(eventId, {
    fingerprint,
    topic: record.topic,
    partition: record.partition,
    offset: String(record.offset),
    at: record.timestamp,
  });
}

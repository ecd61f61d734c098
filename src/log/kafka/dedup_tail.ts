/**
 * Keeps this process's dedup window in step with the topic: loads the last
 * window of every partition (from the offsets at now - window to the end,
 * record headers only, {@linkcode loadWindow}) and then tails it, so ids
 * written by other gateway processes are known here too. A projection of the
 * log, never a source of truth; its reader owns its offsets, so a broker
 * failure never makes it read anything twice or skip.
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
} from "./client.ts";
import { KafkaReader } from "./reader.ts";
import { loadWindow } from "./window_loader.ts";

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
      onRecords: (_, records) => {
        for (const record of records) remember(window, record);
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
   * Resolves once `partition` has been read past `offset`: its transaction
   * is then committed (and the record is in the window) or aborted (and it
   * is not in the log). Waits as long as that transaction is open.
   */
  settle(partition: number, offset: bigint): Promise<void> {
    return this.#readUpTo(partition, offset + 1n);
  }

  /** Stops tailing. */
  async close(): Promise<void> {
    for (const w of this.#waiters) w.done();
    await this.#reader.close();
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

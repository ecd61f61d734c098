/**
 * The embedded log's writer: appends a batch of records in one SQLite
 * transaction (one fsync), with the dedup lookup of each event id, and prunes
 * expired ids. It runs in its own worker ({@link ./writer_worker.ts}) so that
 * commits never hold up the thread that serves requests; its answers are
 * plain data, fit for `postMessage`.
 *
 * @module
 */
import type { DatabaseSync, StatementSync } from "node:sqlite";
import type { AppendResult, LogRecord } from "../event_log.ts";
import { partitionFor } from "../partitioner.ts";
import { offsetAfterLast, openStore, storedPartitions, type SyncMode } from "./store.ts";

/**
 * Most expired event ids deleted in one statement (10-30 ms); a prune of more
 * runs as several, between batches of appends. Dedup never depends on
 * pruning: a lookup checks the entry's age.
 */
export const PRUNE_BATCH = 1000;

/** What the writer needs to know. */
export interface WriterOptions {
  /** Folder that holds the database. */
  dataDir: string;
  /** Partitions of a topic created by this log. */
  partitions: number;
  /** How long an event id is remembered, in ms. */
  dedupWindowMs: number;
  /** How commits reach the disk. */
  sync: SyncMode;
}

/** The fields of a {@linkcode LogRecord} that are written. */
export type WriteRecord = Omit<LogRecord, "receivedAt">;

/** How one record of a batch ended: where it is, or the id it conflicts on. */
export type WriteOutcome = { written: AppendResult } | { conflict: string };

/** Appends batches of records to the embedded log's database. */
export class EmbeddedWriter {
  readonly #db: DatabaseSync;
  readonly #options: WriterOptions;
  /** The next offset of each `topic\0partition` slot, once known. */
  readonly #nextOffset = new Map<string, number>();
  readonly #partitions = new Map<string, number>();
  readonly #insertRecord: StatementSync;
  readonly #insertEventId: StatementSync;
  readonly #deleteEventId: StatementSync;
  readonly #findEventId: StatementSync;
  readonly #pruneIds: StatementSync;

  /** Opens the database in `options.dataDir` for writing. */
  constructor(options: WriterOptions) {
    this.#options = options;
    this.#db = openStore(options.dataDir, options.sync);
    this.#insertRecord = this.#db.prepare(
      "INSERT INTO records (topic, partition, offset, key, value, headers, appended_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
    );
    this.#insertEventId = this.#db.prepare(
      "INSERT INTO event_ids (event_id, fingerprint, topic, partition, offset, appended_at) VALUES (?, ?, ?, ?, ?, ?)",
    );
    this.#deleteEventId = this.#db.prepare("DELETE FROM event_ids WHERE event_id = ?");
    this.#findEventId = this.#db.prepare(
      "SELECT fingerprint, topic, partition, offset, appended_at FROM event_ids WHERE event_id = ?",
    );
    this.#pruneIds = this.#db.prepare(
      "DELETE FROM event_ids WHERE event_id IN (SELECT event_id FROM event_ids WHERE appended_at < ? LIMIT ?)",
    );
  }

  /**
   * Writes `batch` in one transaction and returns each record's outcome, in
   * order. Throws when the transaction cannot commit: then nothing of it was
   * written.
   */
  write(batch: readonly WriteRecord[]): WriteOutcome[] {
    const reserved = new Map<string, number>();
    const outcomes: WriteOutcome[] = [];
    try {
      this.#db.exec("BEGIN IMMEDIATE");
      const now = Date.now();
      for (const record of batch) outcomes.push(this.#write(record, now, reserved));
      this.#db.exec("COMMIT");
    } catch (error) {
      if (this.#db.isTransaction) this.#db.exec("ROLLBACK");
      this.#partitions.clear();
      throw error;
    }
    for (const [slot, next] of reserved) this.#nextOffset.set(slot, next);
    return outcomes;
  }

  /** Deletes up to {@linkcode PRUNE_BATCH} expired event ids; true when more may be left. */
  prune(): boolean {
    const { changes } = this.#pruneIds.run(
      Date.now() - this.#options.dedupWindowMs,
      PRUNE_BATCH,
    );
    return Number(changes) === PRUNE_BATCH;
  }

  /** Closes the database. */
  close(): void {
    this.#db.close();
  }

  /** Writes one record inside the open transaction; offsets are only reserved until commit. */
  #write(record: WriteRecord, now: number, reserved: Map<string, number>): WriteOutcome {
    const seen = this.#findEventId.get(record.eventId) as
      | {
        fingerprint: string;
        topic: string;
        partition: number;
        offset: number;
        appended_at: number;
      }
      | undefined;
    if (seen && now - seen.appended_at <= this.#options.dedupWindowMs) {
      if (seen.fingerprint !== record.fingerprint) return { conflict: record.eventId };
      const { topic, partition, offset } = seen;
      return { written: { topic, partition, offset: String(offset), duplicate: true } };
    }
    const partition = partitionFor(record.key, this.#partitionCount(record.topic));
    const slot = `${record.topic}\u0000${partition}`;
    const offset = reserved.get(slot) ?? this.#nextOffset.get(slot) ??
      offsetAfterLast(this.#db, record.topic, partition);
    reserved.set(slot, offset + 1);
    this.#insertRecord.run(
      record.topic,
      partition,
      offset,
      record.key,
      record.value,
      JSON.stringify(record.headers),
      now,
    );
    if (seen) this.#deleteEventId.run(record.eventId);
    this.#insertEventId.run(
      record.eventId,
      record.fingerprint,
      record.topic,
      partition,
      offset,
      now,
    );
    return {
      written: { topic: record.topic, partition, offset: String(offset), duplicate: false },
    };
  }

  #partitionCount(topic: string): number {
    let count = this.#partitions.get(topic);
    if (count !== undefined) return count;
    const stored = storedPartitions(this.#db, topic);
    count = stored ?? this.#options.partitions;
    if (stored === undefined) {
      this.#db.prepare("INSERT INTO topics (name, partitions) VALUES (?, ?)").run(topic, count);
    }
    this.#partitions.set(topic, count);
    return count;
  }
}

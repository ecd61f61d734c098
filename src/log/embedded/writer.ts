/**
 * The embedded log's writer: appends a batch of records in one SQLite
 * transaction (one fsync), looking each event id up in an in-memory
 * {@linkcode DedupWindow} and journaling the ids it wrote
 * ({@linkcode IdJournal}); it loads the window from the journal when it opens
 * and prunes expired journal rows. It runs in its own worker
 * ({@link ./writer_worker.ts}) so that commits never hold up the thread that
 * serves requests; its answers are plain data, fit for `postMessage`.
 *
 * @module
 */
import type { DatabaseSync, StatementSync } from "node:sqlite";
import { EventIdConflictError } from "../../errors.ts";
import { DedupWindow } from "../dedup_window.ts";
import type { AppendResult, LogRecord } from "../event_log.ts";
import { partitionFor } from "../partitioner.ts";
import { IdJournal, type JournalEntry, rememberPacked } from "./id_journal.ts";
import { offsetAfterLast, openStore, storedPartitions, type SyncMode } from "./store.ts";

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
  readonly #window: DedupWindow;
  readonly #journal: IdJournal;
  /** The next offset of each `topic\0partition` slot, once known. */
  readonly #nextOffset = new Map<string, number>();
  readonly #partitions = new Map<string, number>();
  readonly #insertRecord: StatementSync;

  /**
   * Opens the database in `options.dataDir` for writing and loads the ids
   * written within the dedup window; `now` is the clock (for tests).
   */
  constructor(options: WriterOptions, now: () => number = Date.now) {
    this.#options = options;
    this.#db = openStore(options.dataDir, options.sync);
    this.#insertRecord = this.#db.prepare(
      "INSERT INTO records (topic, partition, offset, key, value, headers, appended_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
    );
    this.#window = new DedupWindow(options.dedupWindowMs, now);
    this.#journal = new IdJournal(this.#db);
    this.#journal.load(this.#window, now(), options.dedupWindowMs);
  }

  /**
   * Writes `batch` in one transaction and returns each record's outcome, in
   * order. Throws when the transaction cannot commit: then nothing of it was
   * written, and no id of it is remembered.
   */
  write(batch: readonly WriteRecord[]): WriteOutcome[] {
    const reserved = new Map<string, number>();
    /** Ids written by this batch so far, which the window learns only once it commits. */
    const written = new Map<string, { fingerprint: string; result: AppendResult }>();
    const journal = new Map<string, JournalEntry[]>();
    const packed = new Map<string, Uint8Array>();
    const outcomes: WriteOutcome[] = [];
    const now = Date.now();
    try {
      this.#db.exec("BEGIN IMMEDIATE");
      for (const record of batch) {
        const outcome = this.#write(record, now, reserved, written);
        outcomes.push(outcome);
        if ("conflict" in outcome || outcome.written.duplicate) continue;
        const { partition, offset } = outcome.written;
        const entries = journal.get(record.topic) ?? [];
        entries.push({
          eventId: record.eventId,
          fingerprint: record.fingerprint,
          partition,
          offset: Number(offset),
        });
        journal.set(record.topic, entries);
      }
      for (const [topic, entries] of journal) {
        packed.set(topic, this.#journal.append(topic, now, entries));
      }
      this.#db.exec("COMMIT");
    } catch (error) {
      if (this.#db.isTransaction) this.#db.exec("ROLLBACK");
      this.#partitions.clear();
      throw error;
    }
    for (const [slot, next] of reserved) this.#nextOffset.set(slot, next);
    for (const [topic, entries] of packed) rememberPacked(this.#window, entries, topic, now);
    return outcomes;
  }

  /** Deletes a page of expired journal rows; true when more may be left. */
  prune(): boolean {
    return this.#journal.prune(Date.now() - this.#options.dedupWindowMs);
  }

  /** Closes the database. */
  close(): void {
    this.#db.close();
  }

  /** Writes one record inside the open transaction; offsets are only reserved until commit. */
  #write(
    record: WriteRecord,
    now: number,
    reserved: Map<string, number>,
    written: Map<string, { fingerprint: string; result: AppendResult }>,
  ): WriteOutcome {
    const earlier = written.get(record.eventId);
    if (earlier) {
      return earlier.fingerprint === record.fingerprint
        ? { written: { ...earlier.result, duplicate: true } }
        : { conflict: record.eventId };
    }
    let seen: AppendResult | undefined;
    try {
      seen = this.#window.check(record.eventId, record.fingerprint);
    } catch (error) {
      if (error instanceof EventIdConflictError) return { conflict: record.eventId };
      throw error;
    }
    if (seen) return { written: seen };
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
    const result = { topic: record.topic, partition, offset: String(offset), duplicate: false };
    written.set(record.eventId, { fingerprint: record.fingerprint, result });
    return { written: result };
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

/**
 * The embedded durable log: a SQLite database in WAL mode in the data
 * directory. Concurrent appends are group-committed: every append that arrives
 * in one turn of the event loop shares one transaction and one fsync, and no
 * append resolves before its transaction has committed.
 *
 * @module
 */
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { DatabaseSync, type StatementSync } from "node:sqlite";
import { EventIdConflictError, EventLogUnavailableError } from "../../errors.ts";
import type { AppendResult, EventLog, LogRecord } from "../event_log.ts";
import { partitionFor } from "../partitioner.ts";

/** Options of {@linkcode EmbeddedLog}. */
export interface EmbeddedLogOptions {
  /** Folder that holds `events.db`; created when missing. */
  dataDir: string;
  /** Partitions of a topic created by this log. */
  partitions: number;
  /** How long an event id is remembered, in ms. */
  dedupWindowMs: number;
  /**
   * `full` fsyncs every commit (durable across power loss); `normal` leaves
   * fsync to checkpoints (durable across a process crash only).
   */
  sync: "full" | "normal";
}

interface Pending {
  record: LogRecord;
  resolve: (result: AppendResult) => void;
  reject: (error: Error) => void;
}

const PRUNE_INTERVAL_MS = 60_000;

/** A durable partitioned log on SQLite, with the same semantics as the Kafka adapter. */
export class EmbeddedLog implements EventLog {
  readonly backend = "embedded";
  readonly #db: DatabaseSync;
  readonly #options: EmbeddedLogOptions;
  readonly #nextOffset = new Map<string, number>();
  readonly #partitions = new Map<string, number>();
  #queue: Pending[] = [];
  #flushScheduled = false;
  #closed = false;
  readonly #pruneTimer: ReturnType<typeof setInterval>;
  readonly #insertRecord: StatementSync;
  readonly #insertEventId: StatementSync;
  readonly #findEventId: StatementSync;

  constructor(options: EmbeddedLogOptions) {
    this.#options = options;
    mkdirSync(options.dataDir, { recursive: true });
    this.#db = new DatabaseSync(join(options.dataDir, "events.db"));
    this.#db.exec(`
      PRAGMA journal_mode = WAL;
      PRAGMA synchronous = ${options.sync === "full" ? "FULL" : "NORMAL"};
      PRAGMA locking_mode = EXCLUSIVE;
      CREATE TABLE IF NOT EXISTS topics (
        name TEXT PRIMARY KEY, partitions INTEGER NOT NULL
      ) WITHOUT ROWID;
      CREATE TABLE IF NOT EXISTS records (
        topic TEXT NOT NULL, partition INTEGER NOT NULL, offset INTEGER NOT NULL,
        key TEXT NOT NULL, value TEXT NOT NULL, headers TEXT NOT NULL,
        appended_at INTEGER NOT NULL,
        PRIMARY KEY (topic, partition, offset)
      ) WITHOUT ROWID;
      CREATE TABLE IF NOT EXISTS event_ids (
        event_id TEXT PRIMARY KEY, fingerprint TEXT NOT NULL, topic TEXT NOT NULL,
        partition INTEGER NOT NULL, offset INTEGER NOT NULL, appended_at INTEGER NOT NULL
      ) WITHOUT ROWID;
      CREATE INDEX IF NOT EXISTS event_ids_by_time ON event_ids (appended_at);
    `);
    // Taking the exclusive lock now makes a second process on the same folder fail at start.
    this.#db.exec("BEGIN IMMEDIATE; COMMIT;");
    this.#insertRecord = this.#db.prepare(
      "INSERT INTO records (topic, partition, offset, key, value, headers, appended_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
    );
    this.#insertEventId = this.#db.prepare(
      "INSERT INTO event_ids (event_id, fingerprint, topic, partition, offset, appended_at) VALUES (?, ?, ?, ?, ?, ?)",
    );
    this.#findEventId = this.#db.prepare(
      "SELECT fingerprint, topic, partition, offset, appended_at FROM event_ids WHERE event_id = ?",
    );
    this.#prune();
    this.#pruneTimer = setInterval(() => this.#prune(), PRUNE_INTERVAL_MS);
    this.#pruneTimer.unref();
  }

  append(record: LogRecord): Promise<AppendResult> {
    if (this.#closed) {
      return Promise.reject(new EventLogUnavailableError("The event log is closed"));
    }
    return new Promise((resolve, reject) => {
      this.#queue.push({ record, resolve, reject });
      if (!this.#flushScheduled) {
        this.#flushScheduled = true;
        setImmediate(() => this.#flush());
      }
    });
  }

  ready(): Promise<boolean> {
    return Promise.resolve(!this.#closed);
  }

  close(): Promise<void> {
    if (this.#closed) return Promise.resolve();
    this.#flush();
    this.#closed = true;
    clearInterval(this.#pruneTimer);
    this.#db.close();
    return Promise.resolve();
  }

  #flush(): void {
    this.#flushScheduled = false;
    const batch = this.#queue;
    if (batch.length === 0) return;
    this.#queue = [];
    const outcomes: (AppendResult | Error)[] = [];
    const reserved = new Map<string, number>();
    try {
      this.#db.exec("BEGIN IMMEDIATE");
      const now = Date.now();
      for (const { record } of batch) outcomes.push(this.#write(record, now, reserved));
      this.#db.exec("COMMIT");
    } catch (error) {
      if (this.#db.isTransaction) this.#db.exec("ROLLBACK");
      this.#partitions.clear();
      const failure = new EventLogUnavailableError("The embedded log could not commit", {
        cause: error,
      });
      for (const p of batch) p.reject(failure);
      return;
    }
    for (const [slot, next] of reserved) this.#nextOffset.set(slot, next);
    batch.forEach((p, i) => {
      const outcome = outcomes[i];
      if (outcome instanceof Error) p.reject(outcome);
      else p.resolve(outcome);
    });
  }

  /** Writes one record inside the open transaction; offsets are only reserved until commit. */
  #write(record: LogRecord, now: number, reserved: Map<string, number>): AppendResult | Error {
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
      if (seen.fingerprint !== record.fingerprint) return new EventIdConflictError(record.eventId);
      return {
        topic: seen.topic,
        partition: seen.partition,
        offset: String(seen.offset),
        duplicate: true,
      };
    }
    const partition = partitionFor(record.key, this.#partitionCount(record.topic));
    const slot = `${record.topic}\u0000${partition}`;
    const offset = reserved.get(slot) ?? this.#offsetAfterLast(record.topic, partition, slot);
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
    if (seen) this.#db.prepare("DELETE FROM event_ids WHERE event_id = ?").run(record.eventId);
    this.#insertEventId.run(
      record.eventId,
      record.fingerprint,
      record.topic,
      partition,
      offset,
      now,
    );
    return { topic: record.topic, partition, offset: String(offset), duplicate: false };
  }

  #partitionCount(topic: string): number {
    let count = this.#partitions.get(topic);
    if (count !== undefined) return count;
    const row = this.#db.prepare("SELECT partitions FROM topics WHERE name = ?").get(topic) as
      | { partitions: number }
      | undefined;
    count = row?.partitions ?? this.#options.partitions;
    if (!row) {
      this.#db.prepare("INSERT INTO topics (name, partitions) VALUES (?, ?)").run(topic, count);
    }
    this.#partitions.set(topic, count);
    return count;
  }

  #offsetAfterLast(topic: string, partition: number, slot: string): number {
    const known = this.#nextOffset.get(slot);
    if (known !== undefined) return known;
    const row = this.#db.prepare(
      "SELECT MAX(offset) AS last FROM records WHERE topic = ? AND partition = ?",
    ).get(topic, partition) as { last: number | null };
    return row.last === null ? 0 : row.last + 1;
  }

  #prune(): void {
    if (this.#closed) return;
    this.#db.prepare("DELETE FROM event_ids WHERE appended_at < ?").run(
      Date.now() - this.#options.dedupWindowMs,
    );
  }
}

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
import type {
  AppendResult,
  EventLog,
  GroupHandler,
  GroupMembership,
  GroupStart,
  LogReader,
  LogRecord,
  PartitionOffsets,
  RecordHandler,
  StoredRecord,
} from "../event_log.ts";
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
/**
 * Most expired event ids deleted in one statement (10-30 ms); pruning yields
 * to the event loop between statements, so a start after a long outage (a
 * million expired ids took 2.7 s to delete at once, before the gateway
 * listened) is not held up, nor are appends. Dedup never depends on
 * pruning: a lookup checks the entry's age.
 */
const PRUNE_BATCH = 1000;
/** Most records a reader hands over at once; it yields to the event loop between pages. */
const READ_PAGE = 500;

interface RecordRow {
  partition: number;
  offset: number;
  key: string;
  value: string;
  headers: string;
}

/**
 * Reads one topic of the embedded log from given offsets, and wakes up when
 * new records are committed. It reads lazily: one page per partition at a
 * time, the next page only after the previous one was handed over, and nothing
 * of a paused partition, so a paused reader holds at most one page.
 */
class EmbeddedReader implements LogReader {
  readonly #select: StatementSync;
  readonly #topic: string;
  readonly #next: Map<number, number>;
  readonly #paused = new Set<number>();
  readonly #onRecords: RecordHandler;
  readonly #onClose: () => void;
  #scheduled = false;
  #closed = false;

  constructor(
    select: StatementSync,
    topic: string,
    next: Map<number, number>,
    onRecords: RecordHandler,
    onClose: () => void,
  ) {
    this.#select = select;
    this.#topic = topic;
    this.#next = next;
    this.#onRecords = onRecords;
    this.#onClose = onClose;
  }

  /** Schedules a read of whatever was committed since the last one. */
  wake(): void {
    if (this.#scheduled || this.#closed) return;
    this.#scheduled = true;
    setImmediate(() => this.#pump());
  }

  pause(partition: number): void {
    this.#paused.add(partition);
  }

  resume(partition: number): void {
    if (this.#paused.delete(partition)) this.wake();
  }

  close(): Promise<void> {
    this.#closed = true;
    this.#onClose();
    return Promise.resolve();
  }

  #pump(): void {
    this.#scheduled = false;
    let more = false;
    for (const [partition, offset] of this.#next) {
      if (this.#closed) return;
      if (this.#paused.has(partition)) continue;
      const rows = this.#select.all(
        this.#topic,
        partition,
        offset,
        READ_PAGE,
      ) as unknown as RecordRow[];
      if (rows.length === 0) continue;
      this.#next.set(partition, rows[rows.length - 1].offset + 1);
      this.#onRecords(rows.map((r): StoredRecord => ({
        topic: this.#topic,
        partition: r.partition,
        offset: BigInt(r.offset),
        key: r.key,
        value: r.value,
        headers: JSON.parse(r.headers),
      })));
      // The handler may have paused the partition; a later page waits for resume().
      more ||= rows.length === READ_PAGE && !this.#paused.has(partition);
    }
    if (more) this.wake();
  }
}

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
  readonly #selectRecords: StatementSync;
  readonly #readers = new Set<EmbeddedReader>();

  /** Opens (or creates) the log in `options.dataDir`; throws when another process holds it. */
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
      CREATE TABLE IF NOT EXISTS group_offsets (
        grp TEXT NOT NULL, topic TEXT NOT NULL, partition INTEGER NOT NULL,
        next_offset INTEGER NOT NULL,
        PRIMARY KEY (grp, topic, partition)
      ) WITHOUT ROWID;
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
    this.#selectRecords = this.#db.prepare(
      "SELECT partition, offset, key, value, headers FROM records WHERE topic = ? AND partition = ? AND offset >= ? ORDER BY offset LIMIT ?",
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

  hasTopic(topic: string): Promise<boolean> {
    return Promise.resolve(
      this.#partitions.has(topic) ||
        this.#db.prepare("SELECT 1 FROM topics WHERE name = ?").get(topic) !== undefined,
    );
  }

  offsets(topic: string): Promise<PartitionOffsets[]> {
    const count = this.#partitionCount(topic);
    return Promise.resolve(Array.from({ length: count }, (_, partition) => {
      const row = this.#db.prepare(
        "SELECT MIN(offset) AS low FROM records WHERE topic = ? AND partition = ?",
      ).get(topic, partition) as { low: number | null };
      const high = this.#offsetAfterLast(topic, partition, `${topic}\u0000${partition}`);
      return { partition, low: BigInt(row.low ?? high), high: BigInt(high) };
    }));
  }

  async read(
    topic: string,
    from: ReadonlyMap<number, bigint>,
    onRecords: RecordHandler,
  ): Promise<LogReader> {
    const next = new Map<number, number>();
    for (const { partition, high } of await this.offsets(topic)) {
      next.set(partition, Number(from.get(partition) ?? high));
    }
    return this.#openReader(topic, next, onRecords);
  }

  async joinGroup(
    topic: string,
    group: string,
    start: GroupStart,
    handler: GroupHandler,
  ): Promise<GroupMembership> {
    const committed = new Map(
      (this.#db.prepare(
        "SELECT partition, next_offset FROM group_offsets WHERE grp = ? AND topic = ?",
      )
        .all(group, topic) as { partition: number; next_offset: number }[])
        .map((r) => [r.partition, r.next_offset]),
    );
    const next = new Map<number, number>();
    for (const { partition, low, high } of await this.offsets(topic)) {
      next.set(partition, committed.get(partition) ?? Number(start === "earliest" ? low : high));
    }
    // One process owns the embedded log, so it owns every partition.
    handler.assigned([...next.keys()]);
    const reader = this.#openReader(topic, next, handler.records);
    const upsert = this.#db.prepare(
      "INSERT INTO group_offsets (grp, topic, partition, next_offset) VALUES (?, ?, ?, ?) ON CONFLICT DO UPDATE SET next_offset = excluded.next_offset",
    );
    return {
      pause: (p) => reader.pause(p),
      resume: (p) => reader.resume(p),
      close: () => reader.close(),
      commit: (partition, offset) => {
        if (this.#closed) return Promise.resolve(false);
        upsert.run(group, topic, partition, Number(offset));
        return Promise.resolve(true);
      },
    };
  }

  #openReader(topic: string, next: Map<number, number>, onRecords: RecordHandler): EmbeddedReader {
    const reader = new EmbeddedReader(
      this.#selectRecords,
      topic,
      next,
      onRecords,
      () => this.#readers.delete(reader),
    );
    this.#readers.add(reader);
    reader.wake();
    return reader;
  }

  close(): Promise<void> {
    if (this.#closed) return Promise.resolve();
    this.#flush();
    this.#closed = true;
    for (const reader of this.#readers) reader.close();
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
    if (reserved.size > 0) { for (const reader of this.#readers) reader.wake(); }
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
    const { changes } = this.#db.prepare(
      "DELETE FROM event_ids WHERE event_id IN (SELECT event_id FROM event_ids WHERE appended_at < ? LIMIT ?)",
    ).run(Date.now() - this.#options.dedupWindowMs, PRUNE_BATCH);
    if (Number(changes) === PRUNE_BATCH) setTimeout(() => this.#prune(), 0);
  }
}

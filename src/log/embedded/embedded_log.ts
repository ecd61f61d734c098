/**
 * The embedded durable log: a SQLite database in WAL mode in the data
 * directory. Appends are written by a worker ({@link ./writer_worker.ts}), so
 * commits and their fsync never hold up the thread that serves requests, and
 * they are group-committed by load: while one batch commits, the appends that
 * arrive meanwhile wait, and go as the next batch. No append resolves before
 * its transaction has committed. Reads use the main thread's own connection.
 * A lock on `events.lock` keeps a second process off the folder.
 *
 * @module
 */
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import type { DatabaseSync, StatementSync } from "node:sqlite";
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
import { offsetAfterLast, openStore, storedPartitions, type SyncMode } from "./store.ts";
import type { WriteOutcome } from "./writer.ts";
import type { FromWriter, ToWriter } from "./writer_worker.ts";

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
  sync: SyncMode;
  /** The writer worker's module; tests hand in another. Default: `writer_worker.ts` beside this. */
  writerUrl?: URL;
}

/** The file whose lock marks the folder as taken by a running process. */
export const LOCK_FILE = "events.lock";
/** Most records in one batch sent to the writer. */
const MAX_BATCH = 2000;
/**
 * The writer's module: the bundle carries it as `writer_worker.js` next to
 * itself (`deploy/bundle.ts`); from source and `deno compile` it is the
 * TypeScript file.
 */
const WRITER_URL = new URL(
  import.meta.url.endsWith(".ts") ? "./writer_worker.ts" : "./writer_worker.js",
  import.meta.url,
);

/** A second process opened a data directory that a running gateway holds. */
export class EmbeddedLogLockedError extends Error {
  /** The folder held by another process. */
  constructor(dataDir: string, options?: ErrorOptions) {
    super(`Another process holds the embedded log in ${dataDir}`, options);
    this.name = "EmbeddedLogLockedError";
  }
}

interface Pending {
  record: LogRecord;
  resolve: (result: AppendResult) => void;
  reject: (error: Error) => void;
}
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
  readonly #lock: Deno.FsFile;
  readonly #worker: Worker;
  /** Appends waiting for the batch in flight to commit. */
  #queue: Pending[] = [];
  /** The batches posted to the writer and not answered yet, oldest first. */
  readonly #inFlight: Pending[][] = [];
  #failure?: Error;
  /** Whether the writer has opened the database and loaded the dedup window. */
  #opened = false;
  #closed = false;
  #drained = Promise.withResolvers<void>();
  readonly #writerClosed = Promise.withResolvers<void>();
  readonly #selectRecords: StatementSync;
  readonly #readers = new Set<EmbeddedReader>();

  /** Opens (or creates) the log in `options.dataDir`; throws when another process holds it. */
  constructor(options: EmbeddedLogOptions) {
    this.#options = options;
    mkdirSync(options.dataDir, { recursive: true });
    this.#lock = Deno.openSync(join(options.dataDir, LOCK_FILE), { create: true, write: true });
    if (!this.#lock.tryLockSync(true)) {
      this.#lock.close();
      throw new EmbeddedLogLockedError(options.dataDir);
    }
    this.#db = openStore(options.dataDir, options.sync);
    this.#selectRecords = this.#db.prepare(
      "SELECT partition, offset, key, value, headers FROM records WHERE topic = ? AND partition = ? AND offset >= ? ORDER BY offset LIMIT ?",
    );
    this.#drained.resolve();
    this.#worker = new Worker(options.writerUrl ?? WRITER_URL, { type: "module" });
    this.#worker.onmessage = ({ data }: MessageEvent<FromWriter>) => this.#answer(data);
    this.#worker.onerror = (event) => {
      event.preventDefault();
      this.#fail(new Error(`The embedded log's writer stopped: ${event.message}`));
    };
    const { dataDir, partitions, dedupWindowMs, sync } = options;
    this.#post({ kind: "open", options: { dataDir, partitions, dedupWindowMs, sync } });
  }

  append(record: LogRecord): Promise<AppendResult> {
    if (this.#closed || this.#failure) {
      return Promise.reject(
        new EventLogUnavailableError("The event log is closed", { cause: this.#failure }),
      );
    }
    return new Promise((resolve, reject) => {
      this.#queue.push({ record, resolve, reject });
      if (this.#inFlight.length === 0) this.#send();
    });
  }

  /** Ready once the writer has loaded the dedup window; appends sent before then wait for it. */
  ready(): Promise<boolean> {
    return Promise.resolve(this.#opened && !this.#closed && !this.#failure);
  }

  hasTopic(topic: string): Promise<boolean> {
    return Promise.resolve(storedPartitions(this.#db, topic) !== undefined);
  }

  offsets(topic: string): Promise<PartitionOffsets[]> {
    const count = this.#partitionCount(topic);
    return Promise.resolve(Array.from({ length: count }, (_, partition) => {
      const row = this.#db.prepare(
        "SELECT MIN(offset) AS low FROM records WHERE topic = ? AND partition = ?",
      ).get(topic, partition) as { low: number | null };
      const high = offsetAfterLast(this.#db, topic, partition);
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
    handler.assigned(new Map([...next].map(([p, offset]) => [p, BigInt(offset)])));
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

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    // Appends already taken are written and answered first.
    await this.#drained.promise;
    for (const reader of this.#readers) reader.close();
    if (!this.#failure) {
      this.#post({ kind: "close" });
      await this.#writerClosed.promise;
    }
    this.#worker.terminate();
    this.#db.close();
    this.#lock.close();
  }

  #post(message: ToWriter): void {
    this.#worker.postMessage(message);
  }

  /** Posts the queued appends as one batch. */
  #send(): void {
    const batch = this.#queue.splice(0, MAX_BATCH);
    if (batch.length === 0) return;
    if (this.#inFlight.length === 0) this.#drained = Promise.withResolvers<void>();
    this.#inFlight.push(batch);
    this.#post({
      kind: "write",
      records: batch.map(({ record: { topic, key, eventId, fingerprint, value, headers } }) => ({
        topic,
        key,
        eventId,
        fingerprint,
        value,
        headers,
      })),
    });
  }

  #answer(message: FromWriter): void {
    switch (message.kind) {
      case "opened":
        this.#opened = true;
        return;
      case "broken":
        return this.#fail(new Error(message.message));
      case "closed":
        return this.#writerClosed.resolve();
      case "written":
        return this.#settle((p, i) => this.#outcome(p, message.outcomes[i]));
      case "failed": {
        const failure = new EventLogUnavailableError("The embedded log could not commit", {
          cause: new Error(message.message),
        });
        return this.#settle((p) => p.reject(failure));
      }
    }
  }

  /** Answers the oldest batch in flight, then sends the next one. */
  #settle(each: (pending: Pending, index: number) => void): void {
    const batch = this.#inFlight.shift() ?? [];
    batch.forEach(each);
    if (batch.length > 0) { for (const reader of this.#readers) reader.wake(); }
    this.#send();
    if (this.#inFlight.length === 0) this.#drained.resolve();
  }

  #outcome(pending: Pending, outcome: WriteOutcome): void {
    if ("conflict" in outcome) pending.reject(new EventIdConflictError(outcome.conflict));
    else pending.resolve(outcome.written);
  }

  /** The writer is gone: every append waiting and to come is refused. */
  #fail(error: Error): void {
    this.#failure = error;
    const failure = new EventLogUnavailableError("The embedded log's writer stopped", {
      cause: error,
    });
    for (const batch of this.#inFlight.splice(0)) for (const p of batch) p.reject(failure);
    for (const p of this.#queue.splice(0)) p.reject(failure);
    this.#drained.resolve();
    this.#writerClosed.resolve();
  }

  #partitionCount(topic: string): number {
    return storedPartitions(this.#db, topic) ?? this.#options.partitions;
  }
}

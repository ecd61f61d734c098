/**
 * The embedded log's record of which event ids it wrote: one row per topic of
 * each committed batch, holding that batch's ids, fingerprints and places
 * packed in one blob, appended in order. The writer looks ids up in an
 * in-memory {@linkcode DedupWindow} and only writes here, so a batch costs one
 * appended row instead of a random insert per id into an index keyed by id
 * (which rewrote a page of that index per id at each commit and took 60-90 µs
 * per record, more as the window filled). At start the window is loaded back
 * from the rows still within it, oldest first.
 *
 * Entry layout, repeated: `u8` id length, `u8` fingerprint length, `u32`
 * partition, `f64` offset, then the id's and the fingerprint's UTF-8 bytes.
 * Ids are at most 128 ASCII characters and fingerprints 43, so a byte holds
 * each length.
 *
 * @module
 */
import type { DatabaseSync, StatementSync } from "node:sqlite";
import type { DedupWindow, EncodedDedupEntry } from "../dedup_window.ts";

/** Rows read at once while loading the window. */
const LOAD_PAGE = 1000;
/** Most expired rows looked at by one prune. */
export const PRUNE_ROWS = 1000;
/** Bytes of an entry before its id and fingerprint. */
const ENTRY_HEAD = 14;
/** Longest id or fingerprint a length byte can say. */
const MAX_FIELD_BYTES = 0xff;

const encoder = new TextEncoder();

/** One id written by a batch: where its record went. */
export interface JournalEntry {
  /** The event id. */
  eventId: string;
  /** Its content fingerprint. */
  fingerprint: string;
  /** Partition of the record. */
  partition: number;
  /** Offset of the record. */
  offset: number;
}

interface JournalRow {
  seq: number;
  topic: string;
  written_at: number;
  entries: Uint8Array;
}

/** The table, created when missing; an older log's `event_ids` table is moved into it once. */
const SCHEMA = `
  CREATE TABLE IF NOT EXISTS id_journal (
    seq INTEGER PRIMARY KEY, topic TEXT NOT NULL, written_at INTEGER NOT NULL,
    entries BLOB NOT NULL
  );
`;

/** Packs `entries` into one blob. */
export function packEntries(entries: readonly JournalEntry[]): Uint8Array {
  const ids = entries.map((e) => encoder.encode(e.eventId));
  const prints = entries.map((e) => encoder.encode(e.fingerprint));
  let size = 0;
  for (let i = 0; i < entries.length; i++) {
    if (ids[i].length > MAX_FIELD_BYTES || prints[i].length > MAX_FIELD_BYTES) {
      throw new RangeError(
        `Event id or fingerprint too long for the journal: ${entries[i].eventId}`,
      );
    }
    size += ENTRY_HEAD + ids[i].length + prints[i].length;
  }
  const bytes = new Uint8Array(size);
  const view = new DataView(bytes.buffer);
  let at = 0;
  for (let i = 0; i < entries.length; i++) {
    view.setUint8(at, ids[i].length);
    view.setUint8(at + 1, prints[i].length);
    view.setUint32(at + 2, entries[i].partition);
    view.setFloat64(at + 6, entries[i].offset);
    at += ENTRY_HEAD;
    bytes.set(ids[i], at);
    at += ids[i].length;
    bytes.set(prints[i], at);
    at += prints[i].length;
  }
  return bytes;
}

/**
 * Remembers in `window` each entry of a packed blob, written to `topic` at
 * `at`; one entry object is reused, no string is made.
 */
export function rememberPacked(
  window: DedupWindow,
  bytes: Uint8Array,
  topic: string,
  at: number,
): void {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const entry: EncodedDedupEntry = {
    bytes,
    idAt: 0,
    idLength: 0,
    fingerprintAt: 0,
    fingerprintLength: 0,
    topic,
    partition: 0,
    offset: 0,
    at,
  };
  for (let i = 0; i < bytes.length;) {
    entry.idLength = view.getUint8(i);
    entry.fingerprintLength = view.getUint8(i + 1);
    entry.partition = view.getUint32(i + 2);
    entry.offset = view.getFloat64(i + 6);
    entry.idAt = i + ENTRY_HEAD;
    entry.fingerprintAt = entry.idAt + entry.idLength;
    i = entry.fingerprintAt + entry.fingerprintLength;
    window.rememberEncoded(entry);
  }
}

/** The ids a log wrote, on disk; the writer's connection owns it. */
export class IdJournal {
  readonly #db: DatabaseSync;
  readonly #append: StatementSync;
  readonly #oldest: StatementSync;
  readonly #delete: StatementSync;

  /** Creates the table when missing, moving an older log's `event_ids` into it. */
  constructor(db: DatabaseSync) {
    this.#db = db;
    db.exec(SCHEMA);
    this.#append = db.prepare(
      "INSERT INTO id_journal (topic, written_at, entries) VALUES (?, ?, ?)",
    );
    this.#oldest = db.prepare("SELECT seq, written_at FROM id_journal ORDER BY seq LIMIT ?");
    this.#delete = db.prepare("DELETE FROM id_journal WHERE seq <= ?");
    this.#migrate();
  }

  /**
   * Appends the ids one batch wrote to `topic` (inside the caller's
   * transaction), and returns them packed, for {@linkcode rememberPacked}.
   */
  append(topic: string, at: number, entries: readonly JournalEntry[]): Uint8Array {
    const packed = packEntries(entries);
    if (entries.length > 0) this.#append.run(topic, at, packed);
    return packed;
  }

  /** Remembers in `window` every id written within it, oldest first. */
  load(window: DedupWindow, now: number, windowMs: number): void {
    const page = this.#db.prepare(
      "SELECT seq, topic, written_at, entries FROM id_journal WHERE seq > ? ORDER BY seq LIMIT ?",
    );
    for (let after = -1;;) {
      const rows = page.all(after, LOAD_PAGE) as unknown as JournalRow[];
      if (rows.length === 0) return;
      for (const { topic, written_at, entries } of rows) {
        if (now - written_at <= windowMs) rememberPacked(window, entries, topic, written_at);
      }
      after = rows[rows.length - 1].seq;
    }
  }

  /**
   * Deletes the oldest rows written before `cutoff`, up to {@linkcode PRUNE_ROWS};
   * true when more may be left. It stops at the first row within the window,
   * so a clock set back only keeps ids longer.
   */
  prune(cutoff: number): boolean {
    const rows = this.#oldest.all(PRUNE_ROWS) as { seq: number; written_at: number }[];
    let last: number | undefined;
    for (const row of rows) {
      if (row.written_at >= cutoff) break;
      last = row.seq;
    }
    if (last === undefined) return false;
    this.#delete.run(last);
    return last === rows[rows.length - 1].seq && rows.length === PRUNE_ROWS;
  }

  /** Moves the rows of the `event_ids` table of an earlier version into the journal. */
  #migrate(): void {
    const legacy = this.#db.prepare(
      "SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'event_ids'",
    ).get();
    if (!legacy) return;
    const rows = this.#db.prepare(
      "SELECT event_id, fingerprint, topic, partition, offset, appended_at FROM event_ids ORDER BY appended_at",
    ).all() as {
      event_id: string;
      fingerprint: string;
      topic: string;
      partition: number;
      offset: number;
      appended_at: number;
    }[];
    this.#db.exec("BEGIN IMMEDIATE");
    try {
      for (const row of rows) {
        this.append(row.topic, row.appended_at, [{
          eventId: row.event_id,
          fingerprint: row.fingerprint,
          partition: row.partition,
          offset: row.offset,
        }]);
      }
      this.#db.exec("DROP TABLE event_ids");
      this.#db.exec("COMMIT");
    } catch (error) {
      this.#db.exec("ROLLBACK");
      throw error;
    }
  }
}

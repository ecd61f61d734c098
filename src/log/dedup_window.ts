/**
 * An in-memory index of the event ids seen in the last window, used by both
 * log adapters; each keeps the ids durably its own way (Kafka in record
 * headers, the embedded log in its id journal) and loads them back at start.
 *
 * It is built to load a full window fast at start (a million ids in a few
 * hundred milliseconds, bench/restart.ts) and to hold it in about 120 bytes
 * per id: ids and fingerprints are kept as UTF-8 bytes in one buffer, each
 * entry's fields in typed-array columns, and ids are found through an
 * open-addressing hash table of entry numbers. Nothing is allocated per id,
 * and the garbage collector has nothing to trace. A JavaScript `Map` of a
 * million strings cost ~1 µs per id and ~400 MB.
 *
 * Lookups compare the id's bytes, so a hash collision only costs a probe,
 * never a wrong answer; the hash is seeded per process.
 *
 * @module
 */
import { EventIdConflictError } from "../errors.ts";
import type { AppendResult } from "./event_log.ts";

/** Where an event id was first written, and with what content. */
export interface DedupEntry {
  /** Content hash of the first write. */
  fingerprint: string;
  /** Topic of the first write. */
  topic: string;
  /** Partition of the first write. */
  partition: number;
  /** Offset of the first write, as a decimal string (kept as a number: offsets stay below 2^53). */
  offset: string;
  /** When it was written (ms since epoch); entries older than the window are dropped. */
  at: number;
}

/**
 * A {@linkcode DedupEntry} whose id and fingerprint are UTF-8 bytes in a
 * buffer being read, so a loader need not make strings of them. A loader may
 * reuse one object for every record.
 */
export interface EncodedDedupEntry extends Omit<DedupEntry, "fingerprint" | "offset"> {
  /** The buffer holding the id and the fingerprint. */
  bytes: Uint8Array;
  /** Where the id starts in `bytes`. */
  idAt: number;
  /** Its length in bytes. */
  idLength: number;
  /** Where the fingerprint starts in `bytes`. */
  fingerprintAt: number;
  /** Its length in bytes. */
  fingerprintLength: number;
  /** Offset of the first write. */
  offset: number;
}

/** Entries the columns hold before they first grow. */
const MIN_CAPACITY = 1024;
/** Bytes the id buffer holds before it first grows. */
const MIN_BYTES = 64 * 1024;
/** How much a full column or byte buffer grows (amortised O(1) per entry, at most 1/3 unused). */
const GROWTH = 1.5;
/** Longest id or fingerprint kept, in bytes (ids are at most 128 characters). */
const MAX_FIELD_BYTES = 0xffff;

const encoder = new TextEncoder();

/** Event ids seen within `windowMs`, oldest first. */
export class DedupWindow {
  readonly #windowMs: number;
  readonly #now: () => number;
  readonly #seed = crypto.getRandomValues(new Uint32Array(1))[0];
  /** Entries `[#head, #count)` of the columns are held; those before `#head` have expired. */
  #head = 0;
  #count = 0;
  /** Where the entry's id starts in `#bytes`; its fingerprint follows it. */
  #starts = new Float64Array(MIN_CAPACITY);
  #idLengths = new Uint16Array(MIN_CAPACITY);
  #fingerprintLengths = new Uint16Array(MIN_CAPACITY);
  #topics = new Uint16Array(MIN_CAPACITY);
  #partitions = new Int32Array(MIN_CAPACITY);
  #offsets = new Float64Array(MIN_CAPACITY);
  #at = new Float64Array(MIN_CAPACITY);
  #bytes = new Uint8Array(MIN_BYTES);
  #end = 0;
  /**
   * Open addressing, linear probing, at most half full: slot `k` is
   * `[2k]` = entry number + 1 (0 when free) and `[2k + 1]` = the id's hash,
   * side by side so a probe reads one cache line.
   */
  #table = new Int32Array(4 * MIN_CAPACITY);
  readonly #topicNames: string[] = [];
  readonly #topicNumbers = new Map<string, number>();

  /** Remembers ids for `windowMs`; `now` is the clock (for tests). */
  constructor(windowMs: number, now: () => number = Date.now) {
    this.#windowMs = windowMs;
    this.#now = now;
  }

  /**
   * Number of entries held: ids within the window, and expired ones not yet
   * dropped because an entry remembered before them is still within it.
   */
  get size(): number {
    return this.#count - this.#head;
  }

  /** Makes room for `entries` more entries at once (a loader that knows how many are coming). */
  reserve(entries: number): void {
    if (this.#count + entries > this.#at.length) this.#relocate(entries);
  }

  /**
   * Records the first write of `eventId`; a later write of the same id is
   * ignored while the first is within the window.
   */
  remember(eventId: string, entry: DedupEntry): void {
    const id = encoder.encode(eventId);
    const fingerprint = encoder.encode(entry.fingerprint);
    this.#add(id, 0, id.length, fingerprint, 0, fingerprint.length, {
      ...entry,
      offset: Number(entry.offset),
    });
  }

  /** {@linkcode DedupWindow.remember} of an id and fingerprint given as bytes. */
  rememberEncoded(entry: EncodedDedupEntry): void {
    const { bytes } = entry;
    this.#add(
      bytes,
      entry.idAt,
      entry.idLength,
      bytes,
      entry.fingerprintAt,
      entry.fingerprintLength,
      entry,
    );
  }

  /** Whether `eventId` is in the window, with any content. */
  has(eventId: string): boolean {
    const id = encoder.encode(eventId);
    return this.#find(hashOf(id, 0, id.length, this.#seed), id, 0, id.length, this.#now()) >= 0;
  }

  /**
   * The earlier result for `eventId` as a duplicate, `undefined` when unseen.
   *
   * @throws {EventIdConflictError} when the id was used with another fingerprint.
   */
  check(eventId: string, fingerprint: string): AppendResult | undefined {
    const id = encoder.encode(eventId);
    const slot = this.#find(hashOf(id, 0, id.length, this.#seed), id, 0, id.length, this.#now());
    if (slot < 0) return undefined;
    const i = this.#table[2 * slot] - 1;
    const print = encoder.encode(fingerprint);
    const at = this.#starts[i] + this.#idLengths[i];
    if (!equalBytes(this.#bytes, at, this.#fingerprintLengths[i], print, 0, print.length)) {
      throw new EventIdConflictError(eventId);
    }
    return {
      topic: this.#topicNames[this.#topics[i]],
      partition: this.#partitions[i],
      offset: String(this.#offsets[i]),
      duplicate: true,
    };
  }

  #add(
    id: Uint8Array,
    idAt: number,
    idLength: number,
    fingerprint: Uint8Array,
    fingerprintAt: number,
    fingerprintLength: number,
    entry: Pick<EncodedDedupEntry, "topic" | "partition" | "offset" | "at">,
  ): void {
    const now = this.#now();
    if (now - entry.at > this.#windowMs) return;
    if (idLength > MAX_FIELD_BYTES || fingerprintLength > MAX_FIELD_BYTES) return;
    this.#expire(now);
    const size = idLength + fingerprintLength;
    if (this.#count === this.#at.length) this.#relocate(1);
    if (this.#end + size > this.#bytes.length) this.#moveBytes(size);
    const hash = hashOf(id, idAt, idLength, this.#seed);
    const slot = this.#find(hash, id, idAt, idLength, now);
    if (slot >= 0) return;
    const i = this.#count++;
    this.#table[2 * ~slot] = i + 1;
    this.#table[2 * ~slot + 1] = hash;
    this.#starts[i] = this.#end;
    this.#idLengths[i] = idLength;
    this.#fingerprintLengths[i] = fingerprintLength;
    this.#topics[i] = this.#topicNumber(entry.topic);
    this.#partitions[i] = entry.partition;
    this.#offsets[i] = entry.offset;
    this.#at[i] = entry.at;
    // Byte loops: ids are short, and a subarray per copy would cost more than the copy.
    const to = this.#bytes;
    let end = this.#end;
    for (let j = idAt; j < idAt + idLength; j++) to[end++] = id[j];
    for (let j = fingerprintAt; j < fingerprintAt + fingerprintLength; j++) {
      to[end++] = fingerprint[j];
    }
    this.#end = end;
  }

  /**
   * The table slot of the entry of this id within the window, or, when there
   * is none, `~slot` of the free slot where it would go.
   */
  #find(hash: number, id: Uint8Array, at: number, length: number, now: number): number {
    const table = this.#table;
    const mask = table.length / 2 - 1;
    for (let slot = hash & mask;; slot = (slot + 1) & mask) {
      const i = table[2 * slot] - 1;
      if (i < 0) return ~slot;
      if (
        table[2 * slot + 1] === hash && i >= this.#head && now - this.#at[i] <= this.#windowMs &&
        equalBytes(this.#bytes, this.#starts[i], this.#idLengths[i], id, at, length)
      ) return slot;
    }
  }

  /**
   * Drops the oldest entries while they are older than the window. Entries
   * are remembered roughly in time order (the dedup tail reads partitions one
   * after another at start), so one a little newer may hold back older ones
   * for a while; lookups look at each entry's own time.
   */
  #expire(now: number): void {
    const horizon = now - this.#windowMs;
    while (this.#head < this.#count && this.#at[this.#head] < horizon) this.#head++;
  }

  /**
   * Moves the entries held to the start of new columns with room for
   * {@linkcode GROWTH} times as many plus `entries`, and rebuilds the table
   * (entry numbers change).
   */
  #relocate(entries: number): void {
    const from = this.#head;
    const live = this.#count - from;
    const capacity = Math.max(MIN_CAPACITY, Math.ceil(GROWTH * live) + entries);
    const move = <T extends Int32Array | Uint16Array | Float64Array>(column: T, make: T): T => {
      make.set(column.subarray(from, this.#count));
      return make;
    };
    this.#starts = move(this.#starts, new Float64Array(capacity));
    this.#idLengths = move(this.#idLengths, new Uint16Array(capacity));
    this.#fingerprintLengths = move(this.#fingerprintLengths, new Uint16Array(capacity));
    this.#topics = move(this.#topics, new Uint16Array(capacity));
    this.#partitions = move(this.#partitions, new Int32Array(capacity));
    this.#offsets = move(this.#offsets, new Float64Array(capacity));
    this.#at = move(this.#at, new Float64Array(capacity));
    this.#head = 0;
    this.#count = live;
    const old = this.#table;
    const table = new Int32Array(2 * powerOfTwo(2 * capacity));
    const mask = table.length / 2 - 1;
    for (let k = 0; k < old.length; k += 2) {
      const i = old[k] - 1 - from;
      if (i < 0) continue;
      let slot = old[k + 1] & mask;
      while (table[2 * slot] !== 0) slot = (slot + 1) & mask;
      table[2 * slot] = i + 1;
      table[2 * slot + 1] = old[k + 1];
    }
    this.#table = table;
  }

  /**
   * Moves the bytes of the entries held to the start of a new buffer with
   * room for {@linkcode GROWTH} times as many plus `bytes`.
   */
  #moveBytes(bytes: number): void {
    const base = this.#head < this.#count ? this.#starts[this.#head] : this.#end;
    const used = this.#end - base;
    const buffer = new Uint8Array(Math.max(MIN_BYTES, Math.ceil(GROWTH * used) + bytes));
    buffer.set(this.#bytes.subarray(base, this.#end));
    this.#bytes = buffer;
    this.#end = used;
    for (let i = this.#head; i < this.#count; i++) this.#starts[i] -= base;
  }

  #topicNumber(topic: string): number {
    let n = this.#topicNumbers.get(topic);
    if (n === undefined) {
      n = this.#topicNames.push(topic) - 1;
      this.#topicNumbers.set(topic, n);
    }
    return n;
  }
}

/** FNV-1a over the bytes from `seed`, then murmur3's finaliser so linear probing spreads well. */
function hashOf(bytes: Uint8Array, at: number, length: number, seed: number): number {
  let h = seed | 0;
  for (let i = at; i < at + length; i++) h = Math.imul(h ^ bytes[i], 0x01000193);
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return h ^ (h >>> 16);
}

function equalBytes(
  a: Uint8Array,
  aAt: number,
  aLength: number,
  b: Uint8Array,
  bAt: number,
  bLength: number,
): boolean {
  if (aLength !== bLength) return false;
  for (let i = 0; i < aLength; i++) if (a[aAt + i] !== b[bAt + i]) return false;
  return true;
}

function powerOfTwo(n: number): number {
  return 2 ** Math.ceil(Math.log2(Math.max(1, n)));
}

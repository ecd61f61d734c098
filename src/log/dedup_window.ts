/**
 * An in-memory index of the event ids seen in the last window, in the order
 * they were seen, used by log adapters whose store cannot look ids up itself.
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
  /** Offset of the first write. */
  offset: string;
  /** When it was written (ms since epoch); entries older than the window are dropped. */
  at: number;
}

/**
 * Event ids seen within `windowMs`. A `Map` keeps insertion order, so expiry
 * only looks at the oldest entries.
 */
export class DedupWindow {
  readonly #entries = new Map<string, DedupEntry>();
  readonly #windowMs: number;
  readonly #now: () => number;

  /** Remembers ids for `windowMs`; `now` is the clock (for tests). */
  constructor(windowMs: number, now: () => number = Date.now) {
    this.#windowMs = windowMs;
    this.#now = now;
  }

  /** Number of ids held. */
  get size(): number {
    return this.#entries.size;
  }

  /** Records the first write of `eventId`; a later write of the same id is ignored. */
  remember(eventId: string, entry: DedupEntry): void {
    if (this.#entries.has(eventId) || this.#now() - entry.at > this.#windowMs) return;
    this.#entries.set(eventId, entry);
    this.#expire();
  }

  /**
   * The earlier result for `eventId` as a duplicate, `undefined` when unseen.
   *
   * @throws {EventIdConflictError} when the id was used with another fingerprint.
   */
  check(eventId: string, fingerprint: string): AppendResult | undefined {
    const entry = this.#entries.get(eventId);
    if (entry === undefined || this.#now() - entry.at > this.#windowMs) return undefined;
    if (entry.fingerprint !== fingerprint) throw new EventIdConflictError(eventId);
    return {
      topic: entry.topic,
      partition: entry.partition,
      offset: entry.offset,
      duplicate: true,
    };
  }

  #expire(): void {
    const horizon = this.#now() - this.#windowMs;
    for (const [id, entry] of this.#entries) {
      if (entry.at >= horizon) break;
      this.#entries.delete(id);
    }
  }
}

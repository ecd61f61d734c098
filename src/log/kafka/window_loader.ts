/**
 * Loads the dedup window at start: reads the event id and fingerprint
 * headers of every record in the window, and nothing else of them, all
 * partitions at once in large fetches. A million ids load in about a second
 * (bench/restart.ts); reading them as whole records took fourteen.
 *
 * @module
 */
import { type Broker, ConnectionPool } from "@platformatic/kafka";
import type { DedupWindow, EncodedDedupEntry } from "../dedup_window.ts";
import {
  clientOptions,
  EVENT_ID_HEADER,
  FINGERPRINT_HEADER,
  type KafkaConnection,
} from "./client.ts";
import { fetchRaw } from "./raw_fetch.ts";
import { scanHeaders } from "./record_headers.ts";

/** Most bytes fetched per partition in one request while loading. @default 8 MiB */
export const DEFAULT_LOAD_FETCH_BYTES = 8 * 1024 * 1024;
/** Kafka's OFFSET_OUT_OF_RANGE: the offset is no longer in the log. */
const OFFSET_OUT_OF_RANGE = 1;
const HEADERS = [EVENT_ID_HEADER, FINGERPRINT_HEADER];

/** The offsets of one partition to load: from `from` up to (not including) `until`. */
export interface LoadRange {
  /** First offset to read. */
  from: bigint;
  /** Offset to read up to (the end of the log when loading began). */
  until: bigint;
}

/** Options of {@linkcode loadWindow}. */
export interface WindowLoadOptions {
  /** How to reach the brokers. */
  connection: KafkaConnection;
  /** Topic read. */
  topic: string;
  /** What to read, per partition. */
  ranges: ReadonlyMap<number, LoadRange>;
  /** Each partition's leader. */
  leaders: ReadonlyMap<number, Broker>;
  /** Most bytes fetched per partition in one request (default {@linkcode DEFAULT_LOAD_FETCH_BYTES}). */
  fetchBytes?: number;
}

/**
 * Remembers in `window` the id of every record in `options.ranges`, and
 * resolves with each partition's next offset: at or after `until`, or where
 * a transaction still open begins. Rejects when a broker cannot be read; the
 * caller starts again.
 */
export async function loadWindow(
  options: WindowLoadOptions,
  window: DedupWindow,
): Promise<Map<number, bigint>> {
  const { connection, topic, ranges, leaders, fetchBytes = DEFAULT_LOAD_FETCH_BYTES } = options;
  // Every connection option the library's own clients get (timeouts, TLS, SASL login).
  const { clientId, ...connectionOptions } = clientOptions(connection, "dedup-load");
  const pool = new ConnectionPool(clientId, connectionOptions);
  const next = new Map<number, bigint>();
  const load = async (partition: number, { from, until }: LoadRange) => {
    const leader = leaders.get(partition);
    if (!leader) throw new Error(`Partition ${partition} of ${topic} has no leader`);
    const entry: EncodedDedupEntry = {
      bytes: new Uint8Array(),
      idAt: 0,
      idLength: 0,
      fingerprintAt: 0,
      fingerprintLength: 0,
      topic,
      partition,
      offset: 0,
      at: 0,
    };
    const remember = (offset: number, at: number, bytes: Uint8Array, values: Int32Array) => {
      if (values[1] < 0 || values[3] < 0) return;
      entry.bytes = bytes;
      entry.idAt = values[0];
      entry.idLength = values[1];
      entry.fingerprintAt = values[2];
      entry.fingerprintLength = values[3];
      entry.offset = offset;
      entry.at = at;
      window.rememberEncoded(entry);
    };
    let offset = from;
    while (offset < until) {
      const [answer] = await fetchRaw(await pool.get(leader), {
        topic,
        maxWaitMs: 0,
        partitions: [{ partition, fetchOffset: offset, maxBytes: fetchBytes }],
      });
      if (answer?.errorCode === OFFSET_OUT_OF_RANGE && offset < answer.logStartOffset) {
        // Retention removed the start of the window meanwhile: those ids are gone with their records.
        offset = answer.logStartOffset;
        continue;
      }
      if (answer?.errorCode !== 0) {
        throw new Error(`Kafka answered error ${answer?.errorCode} for partition ${partition}`);
      }
      const after = scanHeaders(
        answer.records,
        Number(offset),
        HEADERS,
        remember,
        answer.abortedTransactions,
      );
      if (after === undefined) {
        // Records of a transaction still open are not served yet: the tail reads them once committed.
        if (offset >= answer.lastStableOffset) break;
        throw new Error(`Kafka sent no records of partition ${partition}`);
      }
      offset = BigInt(after);
    }
    next.set(partition, offset);
  };
  let total = 0n;
  for (const { from, until } of ranges.values()) total += until > from ? until - from : 0n;
  window.reserve(Number(total));
  // Settled, not raced: no partition goes on loading after the connections are closed.
  const loads = await Promise.allSettled([...ranges].map(([p, range]) => load(p, range)));
  await pool.close().catch(() => {});
  const failed = loads.find((l) => l.status === "rejected");
  if (failed) throw failed.reason;
  return next;
}

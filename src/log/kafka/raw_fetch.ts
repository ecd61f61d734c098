/**
 * A Kafka Fetch request (v12, which every broker from Kafka 2.7 to 4.x
 * serves) whose answer keeps each partition's record batches as bytes.
 * `@platformatic/kafka`'s own fetch decodes every record into buffers, and
 * reads large answers slowly (it walks its chunk list for every field), so a
 * reader of millions of records parses the batches itself
 * ({@linkcode scanHeaders}).
 *
 * @module
 */
import {
  type Connection,
  createAPI,
  FetchIsolationLevels,
  fetchV12,
  type Reader,
  readKnownTaggedFields,
} from "@platformatic/kafka";
import type { AbortedTransaction } from "./aborted_filter.ts";

/** Kafka's API key of Fetch. */
const FETCH_API_KEY = 1;
/** The Fetch version spoken here. */
const FETCH_VERSION = 12;
/** A full fetch that opens no fetch session on the broker (KIP-227): session 0, epoch -1. */
const NO_SESSION_ID = 0;
const NO_SESSION_EPOCH = -1;

/** One partition of a {@linkcode RawFetchRequest}. */
export interface RawFetchPartition {
  /** Partition. */
  partition: number;
  /** First offset wanted. */
  fetchOffset: bigint;
  /** Most bytes of this partition in the answer (at least one batch is always sent). */
  maxBytes: number;
}

/** What to fetch from one broker. */
export interface RawFetchRequest {
  /** Topic. */
  topic: string;
  /** Partitions the broker leads. */
  partitions: RawFetchPartition[];
  /** Longest the broker waits for records, in ms. */
  maxWaitMs: number;
}

/** One partition of the answer. */
export interface RawFetchedPartition {
  /** Partition. */
  partition: number;
  /** Kafka error code, 0 when none. */
  errorCode: number;
  /** Offset after the last record replicated to every in-sync replica. */
  highWatermark: bigint;
  /** Offset of the first record of a transaction still open (the high watermark when none). */
  lastStableOffset: bigint;
  /** First offset still in the log. */
  logStartOffset: bigint;
  /** Transactions aborted in the range returned. */
  abortedTransactions: AbortedTransaction[];
  /** The record batches as sent by the broker (the last one may be cut off). */
  records: Uint8Array;
}

function parse(_correlation: number, _key: number, _version: number, reader: Reader) {
  const partitions: RawFetchedPartition[] = [];
  reader.readInt32(); // throttle_time_ms
  const errorCode = reader.readInt16();
  if (errorCode !== 0) throw new Error(`Kafka fetch failed with error code ${errorCode}`);
  reader.readInt32(); // session_id
  reader.readArray((r: Reader) => {
    r.readString(); // topic
    r.readArray(
      (r: Reader) => {
        const partition = r.readInt32();
        const errorCode = r.readInt16();
        const highWatermark = r.readInt64();
        const lastStableOffset = r.readInt64();
        const logStartOffset = r.readInt64();
        const abortedTransactions = r.readNullableArray((r: Reader) => ({
          producerId: r.readInt64(),
          firstOffset: r.readInt64(),
        })) ?? [];
        r.readInt32(); // preferred_read_replica
        // COMPACT_RECORDS: length + 1, 0 for null. One copy makes the batches contiguous.
        const size = Math.max(0, r.readUnsignedVarInt() - 1);
        const records = r.buffer.slice(r.position, r.position + size);
        r.skip(size);
        readKnownTaggedFields(r, {});
        partitions.push({
          partition,
          errorCode,
          highWatermark,
          lastStableOffset,
          logStartOffset,
          abortedTransactions,
          records,
        });
      },
      true,
      false,
    );
  });
  return partitions;
}

const api = createAPI<unknown[], RawFetchedPartition[]>(
  FETCH_API_KEY,
  FETCH_VERSION,
  fetchV12.createRequest,
  parse,
);

/**
 * Sends `request` on `connection` (to the partitions' leader) and resolves
 * with each partition's answer, committed records only.
 */
export function fetchRaw(
  connection: Connection,
  request: RawFetchRequest,
): Promise<RawFetchedPartition[]> {
  const maxBytes = request.partitions.reduce((sum, p) => sum + p.maxBytes, 0);
  return api.async(
    connection,
    request.maxWaitMs,
    1,
    maxBytes,
    FetchIsolationLevels.READ_COMMITTED,
    NO_SESSION_ID,
    NO_SESSION_EPOCH,
    [{
      topicId: request.topic,
      partitions: request.partitions.map((p) => ({
        partition: p.partition,
        currentLeaderEpoch: -1,
        fetchOffset: p.fetchOffset,
        lastFetchedEpoch: -1,
        partitionMaxBytes: p.maxBytes,
      })),
    }],
    [],
    "",
  );
}

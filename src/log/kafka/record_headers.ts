/**
 * Reads chosen headers of the records in raw Kafka record batches (format
 * v2) without decoding keys or values. The dedup tail needs two headers of
 * every record in the window; decoding whole records (a buffer per key,
 * value and header) made reading a million of them take seconds.
 *
 * @module
 */
import { compressionsAlgorithmsByBitmask, IS_COMPRESSED } from "@platformatic/kafka";
import { Buffer } from "node:buffer";
import { AbortedFilter, type AbortedTransaction } from "./aborted_filter.ts";

/** Batch attribute bit: every record has the broker's append time (`maxTimestamp`). */
const LOG_APPEND_TIME = 1 << 3;
/** Bytes before a batch's length field is complete (base offset, length). */
const BATCH_PREFIX = 12;
/** Bytes of a batch header, up to and including its record count. */
const BATCH_HEADER = 61;

/**
 * Receives one record: its offset, its timestamp (ms since the epoch), and
 * where the values of the wanted headers are in `bytes`: the value of
 * `names[i]` starts at `values[2 * i]` and is `values[2 * i + 1]` bytes long
 * (-1 when the record has no such header). `values` is reused for the next
 * record, and `bytes` holds more than this record.
 */
export type HeaderHandler = (
  offset: number,
  timestamp: number,
  bytes: Uint8Array,
  values: Int32Array,
) => void;

/**
 * Calls `onRecord` for each record at or after offset `from` in `bytes` (the
 * record batches of one partition, as a fetch returns them), with the values
 * of the headers named `names`. Control batches and batches of `aborted`
 * transactions are skipped; a batch cut off at the end is left for the next
 * fetch. Returns the offset after the last complete batch, or `undefined`
 * when there is none.
 */
export function scanHeaders(
  bytes: Uint8Array,
  from: number,
  names: readonly string[],
  onRecord: HeaderHandler,
  aborted: readonly AbortedTransaction[] = [],
): number | undefined {
  const wanted = names.map((n) => new TextEncoder().encode(n));
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const values = new Int32Array(2 * names.length);
  const filter = new AbortedFilter(aborted);
  let next: number | undefined;
  for (let at = 0; at + BATCH_HEADER <= bytes.length;) {
    const end = at + BATCH_PREFIX + view.getInt32(at + 8);
    if (end > bytes.length) break;
    const base = int64(view, at);
    const attributes = view.getInt16(at + 21);
    const lastOffsetDelta = view.getInt32(at + 23);
    const timestamp = attributes & LOG_APPEND_TIME ? int64(view, at + 35) : int64(view, at + 27);
    const count = view.getInt32(at + 57);
    next = base + lastOffsetDelta + 1;
    const skip = filter.skip(attributes, view.getBigInt64(at + 43), BigInt(next - 1));
    if (!skip && next > from) {
      const compression = attributes & IS_COMPRESSED;
      const records = compression === 0
        ? bytes.subarray(at + BATCH_HEADER, end)
        : decompress(compression, bytes.subarray(at + BATCH_HEADER, end));
      const logAppendTime = (attributes & LOG_APPEND_TIME) !== 0;
      readRecords(records, count, base, from, timestamp, logAppendTime, wanted, values, onRecord);
    }
    at = end;
  }
  return next;
}

function readRecords(
  b: Uint8Array,
  count: number,
  base: number,
  from: number,
  timestamp: number,
  logAppendTime: boolean,
  wanted: readonly Uint8Array[],
  values: Int32Array,
  onRecord: HeaderHandler,
): void {
  let pos = 0;
  // Zigzag varints (Kafka's record fields); Number arithmetic keeps 64-bit deltas exact to 2^53.
  const varint = (): number => {
    let value = 0;
    let scale = 1;
    let byte;
    do {
      byte = b[pos++];
      value += (byte & 0x7f) * scale;
      scale *= 128;
    } while (byte & 0x80);
    return value % 2 === 0 ? value / 2 : -(value + 1) / 2;
  };
  for (let r = 0; r < count; r++) {
    varint(); // record length
    pos++; // attributes
    const timestampDelta = varint();
    const offset = base + varint();
    const keyLength = varint();
    if (keyLength > 0) pos += keyLength;
    const valueLength = varint();
    if (valueLength > 0) pos += valueLength;
    values.fill(-1);
    for (let h = varint(); h > 0; h--) {
      const nameLength = varint();
      const nameAt = pos;
      pos += nameLength;
      const valueLength = varint();
      const valueAt = pos;
      if (valueLength > 0) pos += valueLength;
      const i = indexOfName(b, nameAt, nameLength, wanted);
      if (i >= 0) {
        values[2 * i] = valueAt;
        values[2 * i + 1] = valueLength;
      }
    }
    if (offset >= from) {
      onRecord(offset, logAppendTime ? timestamp : timestamp + timestampDelta, b, values);
    }
  }
}

function indexOfName(b: Uint8Array, at: number, length: number, wanted: readonly Uint8Array[]) {
  for (let i = 0; i < wanted.length; i++) {
    const name = wanted[i];
    if (name.length !== length) continue;
    let j = 0;
    while (j < length && b[at + j] === name[j]) j++;
    if (j === length) return i;
  }
  return -1;
}

function int64(view: DataView, at: number): number {
  return view.getInt32(at) * 2 ** 32 + view.getUint32(at + 4);
}

function decompress(compression: number, data: Uint8Array): Uint8Array {
  const algorithm =
    compressionsAlgorithmsByBitmask[compression as keyof typeof compressionsAlgorithmsByBitmask];
  if (!algorithm) throw new Error(`Unknown Kafka compression ${compression}`);
  return algorithm.decompressSync(Buffer.from(data.buffer, data.byteOffset, data.byteLength));
}

/**
 * What the Kafka adapter's clients share: connection settings for
 * `@platformatic/kafka`, the gateway's record headers, and the decoding of
 * fetched record batches.
 *
 * @module
 */
import type { Broker, RecordsBatch } from "@platformatic/kafka";
import type { StoredRecord } from "../event_log.ts";

/** Header that carries the event id, so any gateway can rebuild its dedup window. */
export const EVENT_ID_HEADER = "tastesync-event-id";
/** Header that carries the content fingerprint. */
export const FINGERPRINT_HEADER = "tastesync-fingerprint";

/** How the adapter reaches the brokers. */
export interface KafkaConnection {
  /** Bootstrap brokers, `host:port`. */
  brokers: string[];
  /** Client id reported to the brokers. */
  clientId: string;
  /** How long to wait for a TCP connection, in ms. */
  connectionTimeoutMs: number;
  /** How long to wait for a broker's answer before a request is retried, in ms. */
  requestTimeoutMs: number;
  /** Retries of a failed request inside the client library. */
  retries: number;
  /** Wait between those retries, in ms. */
  initialRetryMs: number;
}

/** The base options of every `@platformatic/kafka` client for `connection`. */
export function clientOptions(connection: KafkaConnection, role: string) {
  return {
    clientId: `${connection.clientId}-${role}`,
    bootstrapBrokers: connection.brokers as Broker[] | string[],
    connectTimeout: connection.connectionTimeoutMs,
    requestTimeout: connection.requestTimeoutMs,
    timeout: connection.requestTimeoutMs,
    retries: connection.retries,
    retryDelay: connection.initialRetryMs,
  };
}

const decoder = new TextDecoder();
const text = (bytes: Uint8Array | null | undefined) => bytes ? decoder.decode(bytes) : "";

/** A record fetched from Kafka, with the time it was appended (ms since the epoch). */
export interface FetchedRecord extends StoredRecord {
  /** When the broker appended it. */
  timestamp: number;
}

/**
 * The records of fetched `batches` of `topic`/`partition` from offset `from`
 * on (a batch may begin before the offset that was asked for).
 */
export function decodeBatches(
  topic: string,
  partition: number,
  batches: readonly RecordsBatch[],
  from: bigint,
): FetchedRecord[] {
  const records: FetchedRecord[] = [];
  for (const batch of batches) {
    for (const record of batch.records) {
      const offset = batch.firstOffset + BigInt(record.offsetDelta);
      if (offset < from) continue;
      const headers: Record<string, string> = {};
      for (const [name, value] of record.headers) {
        if (name) headers[text(name)] = text(value);
      }
      records.push({
        topic,
        partition,
        offset,
        key: text(record.key),
        value: text(record.value),
        headers,
        timestamp: Number(batch.firstTimestamp + record.timestampDelta),
      });
    }
  }
  return records;
}

/**
 * What the Kafka adapter's clients share: connection settings for
 * `@platformatic/kafka`, the gateway's record headers, and the decoding of
 * fetched record batches.
 *
 * @module
 */
import { type Broker, IS_CONTROL, IS_TRANSACTIONAL, type RecordsBatch } from "@platformatic/kafka";
import type { StoredRecord } from "../event_log.ts";
import { AbortedFilter, type AbortedTransaction } from "./aborted_filter.ts";

/** Header that carries the event id, so any gateway can rebuild its dedup window. */
export const EVENT_ID_HEADER = "tastesync-event-id";
/** Header that carries the content fingerprint. */
export const FINGERPRINT_HEADER = "tastesync-fingerprint";

/** SASL mechanisms the adapter can log in with. */
export const SASL_MECHANISMS = ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] as const;

/** A SASL login to the brokers. */
export interface KafkaSasl {
  /** How the password is proved: SCRAM never sends it; PLAIN does, so use it over TLS only. */
  mechanism: (typeof SASL_MECHANISMS)[number];
  /** The user. */
  username: string;
  /** The user's password. */
  password: string;
}

/** TLS to the brokers. */
export interface KafkaTls {
  /** PEM certificates trusted instead of the system's roots. */
  ca?: string;
}

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
  /** The login of every connection; none when unset. */
  sasl?: KafkaSasl;
  /** TLS on every connection; plain TCP when unset. */
  tls?: KafkaTls;
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
    ...(connection.sasl && { sasl: { ...connection.sasl } }),
    ...(connection.tls && { tls: { ...connection.tls } }),
  };
}

/** `@platformatic/kafka`'s code of a login the broker refused. */
const AUTHENTICATION_FAILED = "PLT_KFK_AUTHENTICATION";

/** Why a request to the brokers failed. */
export interface KafkaFailure {
  /** The innermost reason in words, e.g. a certificate the CA did not sign. */
  reason: string;
  /** A broker refused the SASL login (wrong user, password or mechanism). */
  loginRefused: boolean;
}

/**
 * Why a request of `@platformatic/kafka` failed. Its errors nest (a request's
 * `MultipleErrors` holds one per broker, each caused by a `NetworkError`
 * caused by the real reason) and the outer messages say only that a
 * connection failed; this follows the first broker's chain to its end.
 */
export function kafkaFailure(error: unknown): KafkaFailure {
  const chain: Error[] = [];
  for (let e: unknown = error; e instanceof Error;) {
    chain.push(e);
    const nested = (e as { errors?: unknown }).errors;
    e = Array.isArray(nested) && nested.length > 0 ? nested[0] : e.cause;
  }
  const refused = chain.findIndex((e) => (e as { code?: string }).code === AUTHENTICATION_FAILED);
  if (refused === -1) {
    return { reason: chain.at(-1)?.message ?? String(error), loginRefused: false };
  }
  // The broker's own words ("invalid credentials with SASL mechanism ...") are in its response.
  const response = (chain[refused + 1] as { response?: { errorMessage?: string } } | undefined)
    ?.response;
  const reason = [chain[refused].message, response?.errorMessage].filter(Boolean).join(" ");
  return { reason, loginRefused: true };
}

const decoder = new TextDecoder();
const text = (bytes: Uint8Array | null | undefined) => bytes ? decoder.decode(bytes) : "";

/** A record fetched from Kafka, with the time it was appended (ms since the epoch). */
export interface FetchedRecord extends StoredRecord {
  /** When the broker appended it. */
  timestamp: number;
}

/** A record of a transaction, or a transaction's marker, as an uncommitted read sees it. */
export interface TransactionalFetchedRecord extends FetchedRecord {
  /** The producer of its transaction; unset for a record written outside transactions. */
  producerId?: bigint;
  /** Set on a transaction marker (no event): whether the transaction committed or aborted. */
  marker?: "commit" | "abort";
}

/** The records of one fetched partition, and where the next fetch starts. */
export interface DecodedBatches {
  /**
   * Committed records at or after the offset asked for, in order; for an
   * uncommitted read (`aborted` is `"uncommitted"`), every record and marker.
   */
  records: TransactionalFetchedRecord[];
  /** The offset after the last whole batch, or the offset asked for when there was none. */
  next: bigint;
}

/**
 * The committed records of fetched `batches` of `topic`/`partition` from
 * offset `from` on (a batch may begin before the offset that was asked for):
 * transaction markers and the batches of `aborted` transactions are skipped,
 * and `next` moves past them too. With `aborted` `"uncommitted"` (a read
 * that also sees transactions still open), every record comes with its
 * transaction's producer, and markers come as records with `marker` set.
 */
export function decodeBatches(
  topic: string,
  partition: number,
  batches: readonly RecordsBatch[],
  from: bigint,
  aborted?: readonly AbortedTransaction[] | null | "uncommitted",
): DecodedBatches {
  const uncommitted = aborted === "uncommitted";
  const filter = new AbortedFilter(uncommitted ? [] : aborted);
  const records: TransactionalFetchedRecord[] = [];
  let next = from;
  for (const batch of batches) {
    const last = batch.firstOffset + BigInt(batch.lastOffsetDelta);
    if (last >= next) next = last + 1n;
    const skip = filter.skip(batch.attributes, batch.producerId, last);
    const transactional = (batch.attributes & IS_TRANSACTIONAL) !== 0;
    if (uncommitted && transactional && batch.attributes & IS_CONTROL) {
      const key = batch.records[0]?.key;
      if (last < from || !key || key.length < 4) continue;
      // A control record's key: version (int16), then type (int16): 0 abort, 1 commit.
      const type = new DataView(key.buffer, key.byteOffset, key.byteLength).getInt16(2);
      records.push({
        topic,
        partition,
        offset: last,
        key: "",
        value: "",
        headers: {},
        timestamp: Number(batch.firstTimestamp),
        producerId: batch.producerId,
        marker: type === 1 ? "commit" : "abort",
      });
      continue;
    }
    if (skip && !uncommitted) continue;
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
        ...(uncommitted && transactional && { producerId: batch.producerId }),
      });
    }
  }
  return { records, next };
}

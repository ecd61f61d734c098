/**
 * The durable event log port. The core writes through this interface only; the
 * Kafka and embedded adapters implement it with the same semantics.
 *
 * @module
 */

/** A record to append. */
export interface LogRecord {
  /** Topic to write to. */
  topic: string;
  /** Partition key (the customer), so one key's records stay in order. */
  key: string;
  /** The event id, unique within the dedup window. */
  eventId: string;
  /** Hash of the event's content; equal ids with unequal fingerprints conflict. */
  fingerprint: string;
  /** The envelope JSON. */
  value: string;
  /** Record headers, e.g. W3C `traceparent`. */
  headers: Record<string, string>;
}

/** Where a record landed. */
export interface AppendResult {
  /** Topic written. */
  topic: string;
  /** Partition written. */
  partition: number;
  /** Offset in the partition, as a decimal string (Kafka offsets are 64-bit). */
  offset: string;
  /** True when the event id was already in the log with the same content. */
  duplicate: boolean;
}

/**
 * A durable, partitioned, idempotent log.
 *
 * `append` resolves only once the record is durable (Kafka: acks=all; embedded:
 * committed to disk). It rejects with `EventIdConflictError` when the event id
 * was used with other content within the dedup window, and with
 * `EventLogUnavailableError` when the log cannot be reached after retries.
 */
export interface EventLog {
  /** Human-readable backend name, e.g. `kafka` or `embedded`. */
  readonly backend: string;
  /** Appends one record (adapters batch concurrent calls). */
  append(record: LogRecord): Promise<AppendResult>;
  /** Whether the log is reachable now. */
  ready(): Promise<boolean>;
  /** Flushes what is in flight and releases resources. */
  close(): Promise<void>;
}

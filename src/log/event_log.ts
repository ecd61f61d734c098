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
  /**
   * When the publish began (ms since the epoch); the log answers by this plus
   * its publish timeout, also after waiting for an earlier write of the id.
   * Now when unset.
   */
  receivedAt?: number;
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

/** A record read back from the log. */
export interface StoredRecord {
  /** Topic read. */
  topic: string;
  /** Partition read. */
  partition: number;
  /** Offset in the partition. */
  offset: bigint;
  /** Partition key. */
  key: string;
  /** The envelope JSON. */
  value: string;
  /** Record headers, e.g. W3C `traceparent`. */
  headers: Record<string, string>;
}

/** Where each partition of a topic starts and ends. */
export interface PartitionOffsets {
  /** The partition. */
  partition: number;
  /** First offset still in the log. */
  low: bigint;
  /** Offset the next record will get (the end). */
  high: bigint;
}

/** Receives records in offset order within each partition. */
export type RecordHandler = (records: StoredRecord[]) => void;

/**
 * A running reader; stop it with `close`.
 *
 * Readers are the flow control of durable subscriptions: a subscriber that
 * cannot take more has its partitions paused, and resumed once it drains, so a
 * backlog is read at the subscriber's pace. A reader therefore fetches ahead
 * by a bounded amount only, and honours `pause` promptly.
 */
export interface LogReader {
  /**
   * Stops reading records of `partition` until `resume`. After `pause(p)`, at
   * most the records already fetched for `p` are still delivered (in the call
   * under way or a later one); nothing fetched afterwards is, until
   * `resume(p)`. Pausing a paused partition does nothing.
   */
  pause(partition: number): void;
  /**
   * Reads `partition` again after `pause`, from the record after the last one
   * delivered, so nothing is skipped or repeated. Resuming a partition that is
   * not paused does nothing.
   */
  resume(partition: number): void;
  /** Stops reading. */
  close(): Promise<void>;
}

/** What a consumer-group member hears from the log. */
export interface GroupHandler {
  /**
   * Partitions now owned by this process, each with the offset it is read
   * from (its committed offset, or the group's start): records follow from
   * there.
   */
  assigned(from: ReadonlyMap<number, bigint>): void;
  /** Partitions no longer owned; their records in flight will be delivered elsewhere. */
  revoked(partitions: number[]): void;
  /** Records of owned partitions, in offset order within each partition. */
  records: RecordHandler;
}

/** This process's membership in a consumer group. */
export interface GroupMembership extends LogReader {
  /**
   * Commits `next` (the first offset not yet processed) for `partition`.
   * Resolves false when it was not committed: the partition is no longer
   * owned here, or the broker refused it.
   */
  commit(partition: number, next: bigint): Promise<boolean>;
}

/** Where a group starts when it has committed nothing. */
export type GroupStart = "earliest" | "latest";

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
  /** Start and end offsets of every partition of `topic`. */
  offsets(topic: string): Promise<PartitionOffsets[]>;
  /** Whether `topic` exists in the log; asking never creates it. */
  hasTopic(topic: string): Promise<boolean>;
  /**
   * Reads `topic` from `from` (the next offset to read, per partition; a
   * partition left out starts at its end). Resolves once the reader is
   * positioned, so every record appended after that is delivered.
   */
  read(
    topic: string,
    from: ReadonlyMap<number, bigint>,
    onRecords: RecordHandler,
  ): Promise<LogReader>;
  /**
   * Joins consumer group `group` on `topic`: the group's processes share the
   * partitions, and each resumes a partition at its committed offset.
   */
  joinGroup(
    topic: string,
    group: string,
    start: GroupStart,
    handler: GroupHandler,
  ): Promise<GroupMembership>;
  /** Flushes what is in flight and releases resources. */
  close(): Promise<void>;
}

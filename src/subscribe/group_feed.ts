/**
 * A consumer group's share of a topic in this process. The process joins the
 * log's consumer group once per (topic, group); the sockets of that group here
 * share the partitions it owns. Each partition goes to one socket at a time, so
 * its events stay in order; an event not acked within the ack timeout, or left
 * unacked by a socket that closes, goes to another socket. Offsets are
 * committed as clients ack, up to the first event still unacked.
 *
 * A partition is read at the pace of its member: records are handed over
 * while the member has credit and fewer than `maxInFlight` events of the
 * partition are unacked (acks free credit); otherwise the records already read
 * wait here and the partition's reader is paused.
 *
 * @module
 */
import type { EventLog, GroupMembership, GroupStart, StoredRecord } from "../log/event_log.ts";
import type { Logger } from "../telemetry/logger.ts";
import { type Cursor, encodeCursor, InvalidCursorError } from "./cursor.ts";
import { Delivery, type Subscriber } from "./delivery.ts";
import { parseEnvelope, readAttributes } from "./feeds.ts";
import { inSpanSync, startConsumerSpan } from "../telemetry/tracing.ts";
import type { EventFilter } from "./filter.ts";
import { RecentIds } from "./recent_ids.ts";
import { type Clock, SYSTEM_CLOCK, type TimerId } from "../clock.ts";

/** Wait before a refused commit is sent again, in ms. @default 200 */
export const COMMIT_RETRY_MS = 200;
/** Shortest interval between two sweeps for acks that timed out, in ms (else a quarter of the ack timeout). */
const MIN_SWEEP_INTERVAL_MS = 50;

/** Options of a {@linkcode GroupFeed}. */
export interface GroupFeedOptions {
  /** How long a delivered event may stay unacked before it goes to another member, in ms. */
  ackTimeoutMs: number;
  /** Most unacked events per partition; the partition waits for acks at this many. */
  maxInFlight: number;
  /** How long acked event ids are remembered, so they are not delivered to the group again, in ms. */
  dedupWindowMs: number;
  /** Time and timers (tests hand in a fake); default {@linkcode SYSTEM_CLOCK}. */
  clock?: Clock;
}

interface Member {
  subscriber: Subscriber;
  filter: EventFilter;
}

interface InFlight {
  delivery: Delivery;
  member: Member;
  sentAt: number;
}

/** An ack waiting for its commit, to be confirmed to the member that sent it. */
interface PendingConfirm {
  subscriber: Subscriber;
  cursor: string;
  /** The offset after the acked event: confirmed once the commit reaches it. */
  next: bigint;
}

interface PartitionState {
  /** Acks not yet committed, in the order they came. */
  confirms: PendingConfirm[];
  /** Event ids acked and not yet committed, by offset. */
  uncommitted: Map<bigint, string>;
  /** Delivered, not yet acked, in offset order. */
  inFlight: Map<bigint, InFlight>;
  /** Read from the log, not yet handed to a member, in offset order from `head`. */
  backlog: StoredRecord[];
  head: number;
  /** Offset after the last record handed over (or skipped); -1 before the first. */
  seen: bigint;
  committed: bigint;
  committing: boolean;
  /** A refused commit's retry, while it waits. */
  retry?: TimerId;
  paused: boolean;
}

/** One consumer group's partitions in this process, shared by its sockets here. */
export class GroupFeed {
  readonly #topic: string;
  readonly #options: GroupFeedOptions;
  readonly #logger: Logger;
  readonly #onEmpty: () => void;
  readonly #members: Member[] = [];
  readonly #partitions = new Map<number, PartitionState>();
  /** Event ids acked by the group, remembered for the dedup window. */
  readonly #acked: RecentIds;
  readonly #clock: Clock;
  readonly #sweeper: TimerId;
  /** Partitions being pumped, so a pump that re-enters (a member leaving mid-send) does not. */
  readonly #pumping = new Set<number>();
  /**
   * Partitions revoked with acks not yet confirmed, by partition: their
   * commit may have landed though its answer never came, or came after the
   * revoke. If the partition comes back here, the offset it is read from
   * tells which of those acks the group kept.
   */
  readonly #unconfirmed = new Map<number, PartitionState>();
  #membership?: GroupMembership;
  #left = false;

  private constructor(
    topic: string,
    options: GroupFeedOptions,
    logger: Logger,
    onEmpty: () => void,
  ) {
    this.#topic = topic;
    this.#options = options;
    this.#logger = logger;
    this.#onEmpty = onEmpty;
    this.#acked = new RecentIds(options.dedupWindowMs);
    this.#clock = options.clock ?? SYSTEM_CLOCK;
    this.#sweeper = this.#clock.setInterval(
      () => this.#redeliverExpired(),
      Math.max(MIN_SWEEP_INTERVAL_MS, options.ackTimeoutMs / 4),
    );
  }

  /** Joins `group` on `topic`; a new group starts at `start`. */
  static async open(
    log: EventLog,
    topic: string,
    group: string,
    start: GroupStart,
    options: GroupFeedOptions,
    logger: Logger,
    onEmpty: () => void,
  ): Promise<GroupFeed> {
    const feed = new GroupFeed(topic, options, logger, onEmpty);
    try {
      const membership = await log.joinGroup(topic, group, start, {
        assigned: (from) => feed.#assigned(from),
        revoked: (partitions) => feed.#revoked(partitions),
        records: (records) => feed.#deliver(records),
      });
      feed.#membership = membership;
      // Records that arrived while joining, before any member, wait with their partition paused.
      for (const [partition, state] of feed.#partitions) {
        if (state.paused) membership.pause(partition);
      }
    } catch (error) {
      feed.#clock.clearInterval(feed.#sweeper);
      throw error;
    }
    return feed;
  }

  /** The committed offset of each partition owned here (once something was committed). */
  committed(): Map<number, bigint> {
    const out = new Map<number, bigint>();
    for (const [p, state] of this.#partitions) {
      if (state.committed >= 0n) out.set(p, state.committed);
    }
    return out;
  }

  /**
   * Adds a member socket; false when the feed has already left the group.
   * Records already waiting go out from the next turn of the event loop, so
   * after the ready frame the caller sends once attached.
   */
  attach(subscriber: Subscriber, filter: EventFilter): boolean {
    if (this.#left) return false;
    this.#members.push({ subscriber, filter });
    subscriber.onDrain(() => this.#pumpAll());
    setTimeout(() => this.#pumpAll(), 0);
    return true;
  }

  /** Removes a member; its unacked events go to the others. The last one out leaves the group. */
  detach(subscriber: Subscriber): void {
    const at = this.#members.findIndex((m) => m.subscriber === subscriber);
    if (at === -1) return;
    const [gone] = this.#members.splice(at, 1);
    for (const [p, state] of this.#unconfirmed) {
      state.confirms = state.confirms.filter((c) => c.subscriber !== subscriber);
      if (state.confirms.length === 0) this.#unconfirmed.delete(p);
    }
    if (this.#members.length === 0) {
      this.#left = true;
      this.#onEmpty();
      this.#clock.clearInterval(this.#sweeper);
      for (const state of this.#partitions.values()) this.#clock.clearTimeout(state.retry);
      // Unacked events stay uncommitted: the group's next owner of each partition gets them again.
      void this.#membership?.close();
      return;
    }
    for (const [partition, state] of this.#partitions) {
      for (const entry of state.inFlight.values()) {
        if (entry.member !== gone) continue;
        // A send to a socket that is gone too detaches that member, in turn, down to the last one
        // (every member closing at once): then the group is left and nobody gets the rest.
        const owner = this.#ownerOf(partition);
        if (this.#left || !owner) return;
        this.#send(partition, entry, owner);
      }
    }
    if (!this.#left) this.#pumpAll();
  }

  /**
   * Acks everything up to `cursor` delivered to `subscriber` (acks are cumulative per partition).
   *
   * @throws {InvalidCursorError} for a cursor of another topic or beyond what was sent.
   */
  ack(subscriber: Subscriber, cursor: Cursor): void {
    if (cursor.topic !== this.#topic) {
      throw new InvalidCursorError("The cursor belongs to another topic");
    }
    const now = this.#clock.now();
    for (const [partition, next] of cursor.next) {
      const state = this.#partitions.get(partition);
      if (!state) continue; // moved to another process; its new owner redelivers what was not committed
      if (next > state.seen) {
        throw new InvalidCursorError("The ack is for an event that was never sent");
      }
      for (const [offset, entry] of state.inFlight) {
        if (offset >= next) break;
        if (entry.member.subscriber !== subscriber) continue;
        state.inFlight.delete(offset);
        this.#acked.add(entry.delivery.envelope.event_id, now);
        state.uncommitted.set(offset, entry.delivery.envelope.event_id);
      }
      if (subscriber.confirm) {
        const one = encodeCursor({ topic: this.#topic, next: new Map([[partition, next]]) });
        state.confirms.push({ subscriber, cursor: one, next });
      }
      this.#pump(partition, state);
    }
  }

  #assigned(from: ReadonlyMap<number, bigint>): void {
    for (const [p, offset] of from) {
      const before = this.#unconfirmed.get(p);
      this.#unconfirmed.delete(p);
      // Read from `offset` on: the group has the acks before it, however their commit went.
      if (before) this.#confirm(before, offset);
      this.#partitions.set(p, {
        inFlight: new Map(),
        backlog: [],
        head: 0,
        seen: -1n,
        committed: -1n,
        committing: false,
        paused: false,
        confirms: [],
        uncommitted: new Map(),
      });
    }
    this.#logger.log("info", "Group partitions assigned", {
      topic: this.#topic,
      partitions: [...from.keys()],
    });
  }

  #revoked(partitions: number[]): void {
    for (const p of partitions) {
      const state = this.#partitions.get(p);
      this.#clock.clearTimeout(state?.retry);
      // Acked but not committed: whoever reads the partition next delivers them again, this
      // process too, so they are not skipped as acked (their acks were never confirmed).
      for (const id of state?.uncommitted.values() ?? []) this.#acked.delete(id);
      this.#partitions.delete(p);
      if (state && state.confirms.length > 0) {
        // Kept for its acks only: what was read and delivered goes to the next owner.
        state.backlog = [];
        state.head = 0;
        state.inFlight.clear();
        this.#unconfirmed.set(p, state);
      }
    }
    this.#logger.log("info", "Group partitions revoked", { topic: this.#topic, partitions });
  }

  /** Partitions go round-robin to members in join order, so each partition has one owner at a time. */
  #ownerOf(partition: number): Member | undefined {
    if (this.#members.length === 0) return undefined;
    const owned = [...this.#partitions.keys()].sort((a, b) => a - b);
    return this.#members[Math.max(0, owned.indexOf(partition)) % this.#members.length];
  }

  #deliver(records: StoredRecord[]): void {
    const touched = new Set<number>();
    for (const record of records) {
      const state = this.#partitions.get(record.partition);
      if (!state) continue;
      state.backlog.push(record);
      touched.add(record.partition);
    }
    for (const partition of touched) this.#pump(partition, this.#partitions.get(partition)!);
  }

  #pumpAll(): void {
    for (const [partition, state] of this.#partitions) this.#pump(partition, state);
  }

  /**
   * Hands the partition's backlog to its owner while the owner has credit and
   * fewer than `maxInFlight` events are unacked; then pauses the partition's
   * reader if records wait, resumes it once they are gone and there is room.
   */
  #pump(partition: number, state: PartitionState): void {
    if (this.#pumping.has(partition)) return;
    this.#pumping.add(partition);
    try {
      for (;;) {
        const owner = this.#ownerOf(partition);
        if (
          state.head === state.backlog.length || !owner || !owner.subscriber.writable ||
          state.inFlight.size >= this.#options.maxInFlight ||
          this.#partitions.get(partition) !== state
        ) break;
        this.#handOver(state, state.backlog[state.head++], owner);
      }
    } finally {
      this.#pumping.delete(partition);
    }
    if (state.head === state.backlog.length) {
      state.backlog = [];
      state.head = 0;
    }
    if (this.#partitions.get(partition) !== state) return;
    this.#afterProgress(partition, state);
  }

  /** Gives one record to `owner` (or skips it: not an envelope, already acked, filtered out). */
  #handOver(state: PartitionState, record: StoredRecord, owner: Member): void {
    state.seen = record.offset + 1n;
    const envelope = parseEnvelope(record.value);
    const read = startConsumerSpan("event_log.read", record.headers, readAttributes(record));
    try {
      const wanted = inSpanSync(
        "subscription.filter",
        read.context,
        () =>
          envelope !== undefined && !this.#acked.has(envelope.event_id) && owner.filter(envelope),
      );
      if (!wanted) return;
      const cursor = encodeCursor({
        topic: this.#topic,
        next: new Map([[record.partition, state.seen]]),
      });
      const position = { partition: record.partition, offset: record.offset };
      const entry = {
        delivery: new Delivery(envelope!, record.value, cursor, position, read),
        member: owner,
        sentAt: 0,
      };
      state.inFlight.set(record.offset, entry);
      this.#send(record.partition, entry, owner);
    } finally {
      read.span.end();
    }
  }

  #send(partition: number, entry: InFlight, member: Member): void {
    entry.member = member;
    entry.sentAt = this.#clock.now();
    if (!member.subscriber.send(entry.delivery)) {
      this.detach(member.subscriber);
      return;
    }
    if (!member.subscriber.acks) {
      // Server-Sent Events cannot ack: an event counts as acked once written to the stream.
      const state = this.#partitions.get(partition);
      state?.inFlight.delete(entry.delivery.position!.offset);
      this.#acked.add(entry.delivery.envelope.event_id, entry.sentAt);
    }
  }

  /**
   * Pauses the partition's reader while records wait or its owner cannot take
   * more, resumes it once the backlog is gone, the owner has credit and at most
   * half of `maxInFlight` is unacked; then commits up to the first unacked event.
   */
  #afterProgress(partition: number, state: PartitionState): void {
    const owner = this.#ownerOf(partition);
    const waiting = state.head < state.backlog.length || !owner?.subscriber.writable;
    const size = state.inFlight.size;
    if (!state.paused && (waiting || size >= this.#options.maxInFlight)) {
      state.paused = true;
      this.#membership?.pause(partition);
    } else if (state.paused && !waiting && size <= this.#options.maxInFlight / 2) {
      state.paused = false;
      this.#membership?.resume(partition);
    }
    this.#commit(partition, state);
  }

  #commit(partition: number, state: PartitionState): void {
    if (state.committing || state.retry !== undefined || state.seen < 0n || !this.#membership) {
      return;
    }
    const first = state.inFlight.keys().next();
    const target = first.done ? state.seen : first.value;
    if (target <= state.committed) return;
    state.committing = true;
    this.#membership.commit(partition, target).then((committed) => {
      state.committing = false;
      if (this.#partitions.get(partition) !== state || this.#left) {
        if (committed && !this.#left) this.#landedLate(partition, state, target);
        return;
      }
      if (!committed) {
        // A rebalance or a moving coordinator refused it: its acks stay unconfirmed until it lands.
        state.retry = this.#clock.setTimeout(() => {
          state.retry = undefined;
          this.#commit(partition, state);
        }, COMMIT_RETRY_MS);
        return;
      }
      state.committed = target;
      for (const offset of state.uncommitted.keys()) {
        if (offset < target) state.uncommitted.delete(offset);
      }
      this.#confirm(state, target);
      this.#commit(partition, state);
    });
  }

  /**
   * A commit of `state`, a partition since revoked, that the group kept
   * after all: its acks count. Another process that reads the partition
   * starts from this commit or later; this process may already read it again
   * from an offset fetched before the commit landed, so the events it covers
   * are remembered as acked again, and skipped if they come back here.
   */
  #landedLate(partition: number, state: PartitionState, target: bigint): void {
    const now = this.#clock.now();
    for (const [offset, id] of state.uncommitted) {
      if (offset < target) this.#acked.add(id, now);
    }
    this.#confirm(state, target);
    if (state.confirms.length === 0 && this.#unconfirmed.get(partition) === state) {
      this.#unconfirmed.delete(partition);
    }
  }

  /** Confirms to their members the acks that the commit of `target` covers. */
  #confirm(state: PartitionState, target: bigint): void {
    const covered = state.confirms.filter((c) => c.next <= target);
    if (covered.length === 0) return;
    state.confirms = state.confirms.filter((c) => c.next > target);
    const members = new Set(this.#members.map((m) => m.subscriber));
    for (const { subscriber, cursor } of covered) {
      if (members.has(subscriber)) subscriber.confirm!(cursor);
    }
  }

  #redeliverExpired(): void {
    if (this.#members.length === 0) return;
    const expiry = this.#clock.now() - this.#options.ackTimeoutMs;
    for (const [partition, state] of this.#partitions) {
      for (const entry of state.inFlight.values()) {
        if (entry.sentAt > expiry) continue;
        const at = this.#members.indexOf(entry.member);
        this.#send(partition, entry, this.#members[(at + 1) % this.#members.length]);
      }
      this.#pump(partition, state);
    }
  }
}

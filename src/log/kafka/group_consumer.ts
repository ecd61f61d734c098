/**
 * Consumer-group membership on Kafka (`@platformatic/kafka`): the group's
 * processes share the partitions, and each resumes a partition at its
 * committed offset. The client only keeps the membership (join, sync,
 * heartbeats, commits); records are fetched by a {@linkcode KafkaReader} with
 * offsets this process owns, so a paused partition stops alone and a broker
 * failure never rewinds a partition this process still holds.
 *
 * @module
 */
import { Consumer, type GroupAssignment } from "@platformatic/kafka";
import { type Backoff, backoffDelay, sleep } from "../../backoff.ts";
import type { Logger } from "../../telemetry/logger.ts";
import type { GroupHandler, GroupMembership, GroupStart, PartitionOffsets } from "../event_log.ts";
import { clientOptions, type KafkaConnection } from "./client.ts";
import { KafkaReader } from "./reader.ts";

/**
 * How long a member may go silent before the group gives its partitions to
 * the others, in ms: a gateway killed with -9 holds its partitions back this
 * long. @default 10000
 */
export const DEFAULT_GROUP_SESSION_TIMEOUT_MS = 10_000;
/** How long the coordinator waits for members to rejoin in a rebalance, in ms. @default 10000 */
export const DEFAULT_GROUP_REBALANCE_TIMEOUT_MS = 10_000;
/** Heartbeats per session timeout, as Kafka recommends (at most a third of it). */
const HEARTBEATS_PER_SESSION = 3;
/**
 * How long heartbeats may fail before this member stops delivering its
 * partitions, in ms: half the session timeout, so it stops before the
 * coordinator can have given them to another member (that expiry is not told
 * to a member that cannot reach the coordinator, which would go on
 * delivering: a zombie). A heartbeat that succeeds later proves the
 * membership held, and the partitions are read again from their commits.
 */
const HEARTBEAT_STALL_MS = DEFAULT_GROUP_SESSION_TIMEOUT_MS / 2;
/** Attempts at a group's committed offsets while the coordinator is loading or moving. */
const OFFSET_FETCH_ATTEMPTS = 8;
/** Waits between those attempts, and between rejoins: 100 ms, doubling, at most 5 s. */
const GROUP_RETRY: Backoff = { firstMs: 100, maxMs: 5_000 };
/** Kafka's "no offset committed" answer. */
const NO_COMMIT = -1n;

/**
 * The longest wait for an answer on the group client's connections, in ms.
 * The coordinator holds a JoinGroup until the rebalance completes, which takes
 * up to the rebalance timeout when a member died without leaving; requests
 * sent behind it on the same connection (commits) wait as long. The client
 * closes a connection whose request timed out, failing every request on it,
 * so the ordinary request timeout would fail each such rejoin, again and
 * again. As Kafka's Java consumer does for JoinGroup, allow the rebalance
 * plus one ordinary request.
 */
function groupRequestTimeoutMs(connection: Pick<KafkaConnection, "requestTimeoutMs">): number {
  return DEFAULT_GROUP_REBALANCE_TIMEOUT_MS + connection.requestTimeoutMs;
}

/** Joins consumer groups on one Kafka cluster. */
export class GroupConsumers {
  readonly #connection: KafkaConnection;
  readonly #logger: Logger;
  readonly #members = new Set<GroupMembership>();

  /** Group membership over `connection`. */
  constructor(connection: KafkaConnection, logger: Logger) {
    this.#connection = connection;
    this.#logger = logger;
  }

  /**
   * Joins `group` on `topic`. A new group starts at `start` of `offsets` (the
   * log's start or end now): each partition's start is committed as soon as
   * it is first assigned, so nothing published after `ready` is missed, even
   * across restarts.
   */
  async join(
    topic: string,
    group: string,
    start: GroupStart,
    offsets: () => Promise<PartitionOffsets[]>,
    handler: GroupHandler,
  ): Promise<GroupMembership> {
    const member = new KafkaGroupMember(
      this.#connection,
      this.#logger,
      { topic, group, start, offsets, handler },
    );
    try {
      await member.join();
    } catch (error) {
      await member.close();
      throw error;
    }
    const membership: GroupMembership = {
      pause: (partition) => member.reader.pause(partition),
      resume: (partition) => member.reader.resume(partition),
      commit: (partition, next) => member.commit(partition, next),
      close: async () => {
        this.#members.delete(membership);
        await member.close();
      },
    };
    this.#members.add(membership);
    return membership;
  }

  /** Leaves every group. */
  async close(): Promise<void> {
    await Promise.allSettled([...this.#members].map((m) => m.close()));
  }
}

interface MemberOptions {
  topic: string;
  group: string;
  start: GroupStart;
  offsets: () => Promise<PartitionOffsets[]>;
  handler: GroupHandler;
}

/** One process's membership of one group: the client's session and the reader of its partitions. */
class KafkaGroupMember {
  readonly reader: KafkaReader;
  readonly #consumer: Consumer;
  readonly #options: MemberOptions;
  readonly #logger: Logger;
  /** Partitions owned now (after the last assignment was applied). */
  #owned = new Set<number>();
  /** The group generation of the last assignment applied. */
  #generation = -1;
  /** Assignments are applied one at a time, in the order the group made them. */
  #applying: Promise<void> = Promise.resolve();
  /** Partitions set aside while heartbeats stall; undefined when none are. */
  #stalled?: Set<number>;
  /** Where a brand-new group starts, per partition; empty for a group that has commits. */
  #starts = new Map<number, bigint>();
  #closed = false;

  constructor(connection: KafkaConnection, logger: Logger, options: MemberOptions) {
    this.#options = options;
    this.#logger = logger;
    this.#consumer = new Consumer({
      ...clientOptions(connection, "group"),
      requestTimeout: groupRequestTimeoutMs(connection),
      groupId: options.group,
      sessionTimeout: DEFAULT_GROUP_SESSION_TIMEOUT_MS,
      rebalanceTimeout: DEFAULT_GROUP_REBALANCE_TIMEOUT_MS,
      heartbeatInterval: Math.floor(DEFAULT_GROUP_SESSION_TIMEOUT_MS / HEARTBEATS_PER_SESSION),
      heartbeatStallTimeout: HEARTBEAT_STALL_MS,
    });
    this.#consumer.topics.trackAll(options.topic);
    this.reader = new KafkaReader({
      connection,
      topic: options.topic,
      from: new Map(),
      onRecords: (_partition, records) => options.handler.records(records),
      logger,
      role: "group",
    });
    this.#consumer.on(
      "consumer:group:join",
      (
        { assignments, generationId }: { assignments: GroupAssignment[]; generationId?: number },
      ) => {
        const mine = assignments.find((a) => a.topic === options.topic)?.partitions ?? [];
        // A new assignment replaces whatever a stall set aside.
        this.#stalled = undefined;
        this.#enqueue(new Set(mine), generationId ?? this.#consumer.generationId);
      },
    );
    // A rebalance has begun: the client rejoins, and the group may give this member's
    // partitions to another, which reads them from their commits as soon as it has them. As
    // Kafka's eager protocol has members do before they rejoin, stop delivering them now, so
    // two members never deliver one partition at once (seen in a hung-broker chaos round: the
    // old owner went on delivering events that the new owner had already had confirmed).
    this.#consumer.on("consumer:group:rebalance", () => {
      if (this.#owned.size === 0) return;
      this.#enqueue(new Set());
    });
    this.#consumer.on("consumer:heartbeat:stalled", ({ lastError }: { lastError?: unknown }) => {
      if (this.#stalled || this.#owned.size === 0) return;
      this.#stalled = new Set(this.#owned);
      this.#warn("Kafka group heartbeats stalled; its partitions are set aside", lastError, {
        partitions: [...this.#stalled],
      });
      this.#enqueue(new Set());
    });
    this.#consumer.on("consumer:heartbeat:end", () => {
      const stalled = this.#stalled;
      if (!stalled) return;
      this.#stalled = undefined;
      this.#logger.log("info", "Kafka group heartbeats resumed; its partitions are read again", {
        component: "kafka",
        group: options.group,
        partitions: [...stalled],
      });
      this.#enqueue(stalled);
    });
    // A rejoin that failed for good leaves the member without heartbeats: join again.
    this.#consumer.on("error", (error: unknown) => {
      this.#warn("Kafka group membership failed; joining again", error);
      void this.#rejoin();
    });
  }

  /** Joins the group and resolves once the first assignment is applied. */
  async join(): Promise<void> {
    const ends = await this.#options.offsets();
    const committed = await this.#committed(ends.map((o) => o.partition));
    if ([...committed.values()].every((offset) => offset === NO_COMMIT)) {
      const { start } = this.#options;
      this.#starts = new Map(ends.map((o) => [o.partition, start === "earliest" ? o.low : o.high]));
    }
    await this.reader.start();
    await this.#consumer.joinGroup({});
    await this.#applying;
  }

  /**
   * Commits `next` for `partition`; false when it was not committed (no
   * longer owned, a rejoin under way, or failed).
   */
  async commit(partition: number, next: bigint): Promise<boolean> {
    // A partition that moved to another process in a rebalance is not ours to commit.
    if (!this.#owned.has(partition)) return false;
    // Nor while a rejoin is under way: the client takes the next generation from the JoinGroup
    // answer, before its own assignment arrives, and the coordinator accepts that generation's
    // commits as soon as the group is stable, when a member given this partition may already
    // have read its committed offset.
    const generation = this.#generation;
    if (this.#consumer.generationId !== generation) return false;
    try {
      await this.#consumer.commit({
        offsets: [{ topic: this.#options.topic, partition, offset: next, leaderEpoch: -1 }],
      });
      // A commit refused for the generation makes the client rejoin and send it again in the
      // next one, where the partition may be another member's: what it landed on is not known.
      return this.#consumer.generationId === generation;
    } catch (error) {
      this.#warn("Kafka offset commit failed", error, { partition });
      return false;
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.reader.close();
    // Typed as void (the callback overload), it returns the promise when given no callback.
    await Promise.resolve(this.#consumer.leaveGroup(true)).catch(() => {});
    await this.#consumer.close(true).catch(() => {});
  }

  /**
   * Applies `partitions` after the assignments before it: those of group
   * generation `generation`, or the current one's (a stall setting them aside,
   * heartbeats that resumed).
   */
  #enqueue(partitions: Set<number>, generation = this.#generation): void {
    this.#applying = this.#applying.then(() => this.#apply(partitions, generation)).catch((
      error,
    ) => this.#warn("Kafka group assignment could not be applied", error));
  }

  /** Hands revoked partitions back and starts reading new ones at their committed offsets. */
  async #apply(now: Set<number>, generation: number): Promise<void> {
    const revoked = [...this.#owned].filter((p) => !now.has(p));
    const assigned = [...now].filter((p) => !this.#owned.has(p));
    for (const p of revoked) this.reader.unassign(p);
    this.#owned = now;
    this.#generation = generation;
    if (revoked.length > 0) this.#options.handler.revoked(revoked);
    if (assigned.length === 0) return;
    const committed = await this.#committed(assigned);
    const from = new Map<number, bigint>();
    const fallback = assigned.some((p) => committed.get(p) === NO_COMMIT && !this.#starts.has(p))
      ? await this.#options.offsets()
      : [];
    for (const p of assigned) {
      const offset = committed.get(p) ?? NO_COMMIT;
      if (offset !== NO_COMMIT) {
        from.set(p, offset);
        continue;
      }
      const end = fallback.find((o) => o.partition === p);
      const first = this.#starts.get(p) ??
        (this.#options.start === "earliest" ? end?.low : end?.high) ?? 0n;
      from.set(p, first);
      // A new group's start is its first commit, so a restart does not begin again "now".
      await this.commit(p, first);
    }
    this.#options.handler.assigned(from);
    for (const [p, offset] of from) await this.reader.assign(p, offset);
  }

  /**
   * The group's committed offsets of `partitions`. A coordinator that is
   * loading (a fresh or restarted cluster) or moving answers with a retriable
   * error for a while: ask again with backoff before giving up.
   */
  async #committed(partitions: number[]): Promise<Map<number, bigint>> {
    const topic = this.#options.topic;
    for (let attempt = 1;; attempt++) {
      try {
        const answer = await this.#consumer.listCommittedOffsets({
          topics: [{ topic, partitions }],
        });
        const offsets = answer.get(topic) ?? [];
        return new Map(partitions.map((p) => [p, offsets[p] ?? NO_COMMIT]));
      } catch (error) {
        if (attempt >= OFFSET_FETCH_ATTEMPTS || this.#closed) throw error;
        await sleep(backoffDelay(attempt, GROUP_RETRY));
      }
    }
  }

  async #rejoin(): Promise<void> {
    for (let attempt = 0; !this.#closed; attempt++) {
      try {
        await this.#consumer.joinGroup({});
        return;
      } catch (error) {
        this.#warn("Kafka group rejoin failed", error);
        await sleep(backoffDelay(attempt, GROUP_RETRY));
      }
    }
  }

  #warn(message: string, error: unknown, fields: Record<string, unknown> = {}): void {
    if (this.#closed) return;
    this.#logger.log("warn", message, {
      component: "kafka",
      group: this.#options.group,
      ...fields,
      error: String(error),
    });
  }
}

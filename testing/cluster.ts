/**
 * A 3-node Kafka cluster and a nats-server of their own, run by
 * `deploy/local/services.sh` in a separate state dir on separate ports, so
 * faults injected here never touch the 1-broker services (9092, 4222) that
 * other test runs share. Faults go through the script (`kill9`, `sigstop`,
 * `controller`, ...); topics, leaders and replicas are read with kafkajs.
 *
 * @module
 */
import { type Admin, Kafka, logLevel } from "kafkajs";
import { CommittedMessages } from "./committed_messages.ts";
import "./kafkajs_patch.ts";

const ROOT = new URL("..", import.meta.url).pathname;

/** Where the cluster lives and listens. */
export interface ClusterOptions {
  /** State dir of `services.sh` (data, logs, pids). */
  stateDir: string;
  /** Port of node 1; node n listens on `basePort + 2(n - 1)`, its controller one above. */
  basePort: number;
  /** Port of the cluster's own nats-server. */
  natsPort: number;
}

/**
 * The chaos cluster's defaults: `.cache/chaos`, Kafka on 19092/19094/19096,
 * NATS on 14222. `TASTESYNC_CHAOS_STATE_DIR`, `TASTESYNC_CHAOS_KAFKA_PORT` and
 * `TASTESYNC_CHAOS_NATS_PORT` move them.
 */
export function defaultClusterOptions(): ClusterOptions {
  return {
    stateDir: Deno.env.get("TASTESYNC_CHAOS_STATE_DIR") ?? `${ROOT}.cache/chaos`,
    basePort: Number(Deno.env.get("TASTESYNC_CHAOS_KAFKA_PORT") ?? 19092),
    natsPort: Number(Deno.env.get("TASTESYNC_CHAOS_NATS_PORT") ?? 14222),
  };
}

/**
 * The soak's cluster: `.cache/soak`, Kafka on 29092/29094/29096, NATS on
 * 24222 (`TASTESYNC_SOAK_STATE_DIR`, `TASTESYNC_SOAK_KAFKA_PORT`,
 * `TASTESYNC_SOAK_NATS_PORT`), so a 30-minute soak never holds up the chaos
 * suite in `deno task test`.
 */
export function soakClusterOptions(): ClusterOptions {
  return {
    stateDir: Deno.env.get("TASTESYNC_SOAK_STATE_DIR") ?? `${ROOT}.cache/soak`,
    basePort: Number(Deno.env.get("TASTESYNC_SOAK_KAFKA_PORT") ?? 29092),
    natsPort: Number(Deno.env.get("TASTESYNC_SOAK_NATS_PORT") ?? 24222),
  };
}

/** Number of Kafka nodes. */
export const NODES = [1, 2, 3] as const;

/** Partition -> leader node id, and the in-sync replicas of each partition. */
export interface PartitionLayout {
  partition: number;
  leader: number;
  isr: number[];
}

/** The 3-node cluster. */
export class Cluster {
  /** Kafka bootstrap list, `host:port`. */
  readonly brokers: string[];
  /** NATS URL. */
  readonly natsUrl: string;
  readonly #options: ClusterOptions;
  #admin?: Admin;

  constructor(options: ClusterOptions = defaultClusterOptions()) {
    this.#options = options;
    this.brokers = NODES.map((n) => `127.0.0.1:${options.basePort + 2 * (n - 1)}`);
    this.natsUrl = `nats://127.0.0.1:${options.natsPort}`;
  }

  /** Runs `services.sh command args` on this cluster's state dir and ports; returns stdout. */
  async services(command: string, ...args: string[]): Promise<string> {
    const out = await new Deno.Command("bash", {
      args: [
        `${ROOT}deploy/local/services.sh`,
        command,
        "--kafka-brokers",
        "3",
        "--state-dir",
        this.#options.stateDir,
        "--base-port",
        String(this.#options.basePort),
        "--nats-port",
        String(this.#options.natsPort),
        ...args,
      ],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const stdout = new TextDecoder().decode(out.stdout);
    if (out.code !== 0) {
      throw new Error(
        `services.sh ${command} ${args.join(" ")} failed:\n${stdout}${
          new TextDecoder().decode(out.stderr)
        }`,
      );
    }
    return stdout;
  }

  /**
   * Waits until no other chaos run uses this cluster, then holds it until
   * the returned function is called: two runs injecting faults into one
   * cluster would measure each other's faults.
   */
  async lock(): Promise<() => void> {
    await Deno.mkdir(this.#options.stateDir, { recursive: true });
    const file = await Deno.open(`${this.#options.stateDir}/run.lock`, {
      create: true,
      write: true,
    });
    await file.lock(true);
    return () => file.close();
  }

  /** True when every node and NATS answer. */
  async running(): Promise<boolean> {
    try {
      await this.services("status");
      return true;
    } catch {
      return false;
    }
  }

  /**
   * Starts whatever is not running, and thaws any node a previous run left
   * frozen. Resolves once every node serves requests.
   */
  async start(): Promise<void> {
    for (const n of NODES) await this.services("sigcont", "--node", String(n)).catch(() => {});
    await this.services("start");
  }

  /** Disconnects this client's admin connection; the cluster keeps running. */
  async close(): Promise<void> {
    await this.#admin?.disconnect().catch(() => {});
    this.#admin = undefined;
  }

  /** Stops the cluster and NATS. */
  async stop(): Promise<void> {
    await this.close();
    await this.services("stop");
  }

  /** SIGKILLs node `n` and waits until it is gone. */
  async kill9(n: number): Promise<void> {
    await this.services("kill9", "--node", String(n));
  }

  /** SIGTERMs node `n` (controlled shutdown) and waits until it has exited. */
  async terminate(n: number): Promise<void> {
    await this.services("stop-kafka", "--node", String(n));
  }

  /** Starts node `n`; resolves once it has caught up with the metadata and serves requests. */
  async startNode(n: number): Promise<void> {
    await this.services("start-kafka", "--node", String(n));
  }

  /** Freezes node `n` (SIGSTOP). */
  async freeze(n: number): Promise<void> {
    await this.services("sigstop", "--node", String(n));
  }

  /** Thaws node `n` (SIGCONT). */
  async thaw(n: number): Promise<void> {
    await this.services("sigcont", "--node", String(n));
  }

  /** The node id of the active controller. */
  async controller(): Promise<number> {
    return Number((await this.services("controller")).trim());
  }

  /** Stops the cluster's nats-server. */
  async stopNats(): Promise<void> {
    await this.services("stop-nats");
  }

  /** Starts the cluster's nats-server and waits until it answers. */
  async startNats(): Promise<void> {
    await this.services("start-nats");
  }

  /** A kafkajs admin client of the cluster (shared, connected on first use). */
  async admin(): Promise<Admin> {
    if (!this.#admin) {
      const admin = this.kafka("chaos-admin").admin();
      await admin.connect();
      this.#admin = admin;
    }
    return this.#admin;
  }

  /** A kafkajs client of the cluster that logs nothing. */
  kafka(clientId: string): Kafka {
    return new Kafka({
      clientId,
      brokers: this.brokers,
      logLevel: logLevel.NOTHING,
      connectionTimeout: 1000,
      requestTimeout: 5000,
      retry: { retries: 5, initialRetryTime: 100, maxRetryTime: 1000 },
    });
  }

  /**
   * Creates `topic` with replication factor 3, `min.insync.replicas=2` and
   * unclean leader election off, and waits until every partition has a leader.
   */
  async createTopic(topic: string, partitions: number): Promise<void> {
    const admin = await this.admin();
    // Not kafkajs's waitForLeaders: right after faults a broker may not know the new topic yet
    // and answer UNKNOWN_TOPIC_OR_PARTITION, which it does not retry (a round failed so).
    // waitInSync polls fresh metadata until every partition has a leader and its replicas.
    await admin.createTopics({
      waitForLeaders: false,
      topics: [{
        topic,
        numPartitions: partitions,
        replicationFactor: 3,
        configEntries: [
          { name: "min.insync.replicas", value: "2" },
          { name: "unclean.leader.election.enable", value: "false" },
        ],
      }],
    });
    await this.waitInSync(topic);
  }

  /** Deletes `topic` (best effort). */
  async deleteTopic(topic: string): Promise<void> {
    await (await this.admin()).deleteTopics({ topics: [topic] }).catch(() => {});
  }

  /** Leader and ISR of every partition of `topic`, from fresh metadata. */
  async layout(topic: string): Promise<PartitionLayout[]> {
    const admin = await this.admin();
    const { topics } = await admin.fetchTopicMetadata({ topics: [topic] });
    return topics[0].partitions
      .map((p) => ({ partition: p.partitionId, leader: p.leader, isr: [...p.isr].sort() }))
      .sort((a, b) => a.partition - b.partition);
  }

  /**
   * Waits until every partition of `topic` has a leader and all 3 replicas in
   * sync, i.e. the cluster has fully recovered from the last fault.
   */
  async waitInSync(topic: string, timeoutMs = 90_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let last = "";
    while (Date.now() < deadline) {
      try {
        const layout = await this.layout(topic);
        if (layout.every((p) => p.leader >= 1 && p.isr.length === NODES.length)) return;
        last = JSON.stringify(layout);
      } catch (error) {
        last = String(error);
      }
      await new Promise((r) => setTimeout(r, 200));
    }
    throw new Error(`${topic} not fully in sync after ${timeoutMs} ms: ${last}`);
  }

  /**
   * Waits until consumer group `group` is stable with `members` members (the
   * gateways' memberships), so no rebalance is pending when traffic starts.
   */
  async waitGroupStable(group: string, members: number, timeoutMs = 60_000): Promise<void> {
    const admin = await this.admin();
    const deadline = Date.now() + timeoutMs;
    let last = "";
    while (Date.now() < deadline) {
      const { groups } = await admin.describeGroups([group]).catch(() => ({ groups: [] }));
      const g = groups[0];
      if (g?.state === "Stable" && g.members.length === members) return;
      last = `${g?.state} with ${g?.members.length} members`;
      await new Promise((r) => setTimeout(r, 200));
    }
    throw new Error(`group ${group} not stable with ${members} members: ${last}`);
  }

  /**
   * Every record of `topic` as `(event id, partition, offset)`, read from the
   * beginning to the end offsets of now, with a consumer of its own.
   */
  async readAll(topic: string, timeoutMs = 60_000): Promise<StoredEvent[]> {
    const admin = await this.admin();
    const ends = await admin.fetchTopicOffsets(topic);
    const remaining = new Map(
      ends.filter((o) => BigInt(o.high) > BigInt(o.low)).map((o) => [o.partition, BigInt(o.high)]),
    );
    const out: StoredEvent[] = [];
    if (remaining.size === 0) return out;
    const consumer = this.kafka("chaos-verifier").consumer({
      groupId: `chaos-verifier-${crypto.randomUUID()}`,
      maxWaitTimeInMs: 100,
      maxBytesPerPartition: 4 << 20,
    });
    const { promise: done, resolve } = Promise.withResolvers<void>();
    await consumer.connect();
    try {
      await consumer.subscribe({ topic, fromBeginning: true });
      const committed = new CommittedMessages();
      await consumer.run({
        autoCommit: false,
        eachBatch: ({ batch }) => {
          for (const m of committed.take(batch)) {
            // The envelope is the contract; the adapter's own headers may change.
            const id = String(JSON.parse(m.value?.toString() ?? "{}").event_id);
            out.push({ id, partition: batch.partition, offset: BigInt(m.offset) });
          }
          // The batch's last offset counts transaction markers, which are not messages: the end
          // offset of a topic written in transactions is one past a marker.
          const end = remaining.get(batch.partition);
          if (end !== undefined && BigInt(batch.lastOffset()) + 1n >= end) {
            remaining.delete(batch.partition);
            if (remaining.size === 0) resolve();
          }
          return Promise.resolve();
        },
      });
      let timer: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([
        done,
        new Promise((_, reject) => {
          timer = setTimeout(
            () => reject(new Error(`read ${out.length} records of ${topic}, then timed out`)),
            timeoutMs,
          );
        }),
      ]).finally(() => clearTimeout(timer));
      return out;
    } finally {
      await consumer.disconnect();
    }
  }
}

/** A record of the topic as the independent reader found it. */
export interface StoredEvent {
  id: string;
  partition: number;
  offset: bigint;
}

/** A TCP port nothing listens on right now. */
export function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  listener.close();
  return port;
}

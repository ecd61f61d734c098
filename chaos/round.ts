/**
 * One chaos round: a fresh topic (RF 3, min ISR 2), two gateway processes, a
 * durable subscriber, a consumer group with one member on each gateway, and
 * open-loop publish traffic that retries with the same `event_id`. The fault
 * is injected once every partition is answering and the answers are steady
 * (warm-up is not measured for deadlines and gaps), held, undone; traffic goes
 * on until every partition answers again, then the topic is read back with an
 * independent kafkajs consumer and compared with what was acknowledged.
 *
 * Every wait is on a signal (answers, `/readyz`, replicas in sync, the group
 * stable) except the fault's own hold.
 *
 * @module
 */
import type { Cluster } from "../testing/cluster.ts";
import { waitUntil } from "../testing/harness.ts";
import {
  type Ack,
  type Attempt,
  GatewayPool,
  keysPerPartition,
  PublishLoad,
} from "../testing/publish_load.ts";
import { GatewayHandle } from "./gateways.ts";
import { LoopLag } from "./loop_lag.ts";
import { measure, type RoundRow, SLOW_MS } from "./measure.ts";
import { DurableSubscriber, GroupLedger, GroupMember, oddFrames } from "./observers.ts";
import type { Scenario } from "./scenarios.ts";

/**
 * Steady state before the fault: every answer for this long was a 2xx within
 * {@linkcode SLOW_MS}, and nothing has waited longer than that, in ms. A
 * cluster whose brokers just started (cold JVMs on shared cores) answers in
 * seconds at first; a fault injected then would measure the warm-up.
 */
const STEADY_MS = 3000;
/** Longest wait for steady state before the round goes on without it, in ms. */
const STEADY_WAIT_MS = 60_000;
/** Events delivered again after a confirmed ack that a round's notes describe one by one. */
const MAX_REDELIVERIES_NOTED = 5;
/**
 * Most publish attempts in flight at once: the clients are this many devices
 * (or a load balancer's connections), each with one request outstanding; new
 * events beyond it wait in the client until one is answered. At 500 events/s
 * and answers at the publish deadline this is what new events alone need. With
 * 8,000, the load generator's thousands of connections made it read answers
 * seconds late on a saturated machine (see README, "Chaos suite").
 */
export const DEFAULT_MAX_IN_FLIGHT = 2000;

/** Options of {@linkcode runRound}. */
export interface RoundOptions {
  cluster: Cluster;
  scenario: Scenario;
  /** Round number, from 1. */
  round: number;
  /** Names this run's topics. */
  runId: string;
  /** New events per second. @default {500} */
  rate?: number;
  /** Most attempts in flight at once. @default {DEFAULT_MAX_IN_FLIGHT} */
  maxInFlight?: number;
  /** Partitions of the topic. @default {6} */
  partitions?: number;
  /** 2xx answers every partition needs before the fault and after it is undone. @default {25} */
  answersPerPartition?: number;
  /** Longest wait for retries to get every event acknowledged after the load stops, in ms. @default {60000} */
  drainMs?: number;
  /** Longest wait for the durable subscriber to receive every acked event, in ms. @default {60000} */
  settleMs?: number;
  /**
   * Longest further wait for the group to receive every acked event, in ms: a
   * killed gateway's membership holds its partitions until its session expires.
   * @default {45000}
   */
  groupSettleMs?: number;
  /** Where gateway logs go; none when unset. */
  logDir?: string;
  /** Checkout of the gateway to run (default: this one). */
  gatewayDir?: string;
  /** Progress lines. */
  log?: (message: string) => void;
}

/** Runs one round of `scenario` and measures it. */
export async function runRound(options: RoundOptions): Promise<RoundRow> {
  const {
    cluster,
    scenario,
    round,
    runId,
    rate = 500,
    maxInFlight = DEFAULT_MAX_IN_FLIGHT,
    partitions = 6,
    answersPerPartition = 25,
    drainMs = 60_000,
    settleMs = 60_000,
    groupSettleMs = 45_000,
    log = () => {},
  } = options;
  const topic = `chaos-${runId}-${scenario.name}-${round}`;
  const group = `${topic}-group`;
  const t0 = performance.now();
  const since = () => `${((performance.now() - t0) / 1000).toFixed(1)}s`;
  const say = (message: string) => log(`[${scenario.name} #${round} ${since()}] ${message}`);

  await cluster.createTopic(topic, partitions);
  const env = (name: string) => ({
    TASTESYNC_KAFKA_BROKERS: cluster.brokers.join(","),
    TASTESYNC_KAFKA_TOPIC: topic,
    TASTESYNC_KAFKA_PARTITIONS: String(partitions),
    TASTESYNC_KAFKA_REPLICATION_FACTOR: "3",
    TASTESYNC_KAFKA_CLIENT_ID: name,
    TASTESYNC_NATS_URL: cluster.natsUrl,
    TASTESYNC_NATS_SUBJECT_PREFIX: `chaos.${topic.replaceAll(/[^A-Za-z0-9_-]/g, "_")}`,
  });
  const gateways = [
    new GatewayHandle(0, env("chaos-gw-0"), options.gatewayDir),
    new GatewayHandle(1, env("chaos-gw-1"), options.gatewayDir),
  ];
  const pool = new GatewayPool(gateways.map((g) => g.url));
  const ledger = new GroupLedger();
  const members = gateways.map((g) =>
    new GroupMember(() => g.url, topic, group, ledger, `member ${g.index}`)
  );
  const subscriber = new DurableSubscriber(pool, topic, partitions);
  const attempts: Attempt[] = [];
  const acks = new Map<string, Ack>();
  const answered = Array.from({ length: partitions }, () => 0);
  let answeredSince = Infinity;
  const answeredAfter = Array.from({ length: partitions }, () => 0);
  let unsteadyAt = 0;
  const load = new PublishLoad({
    pool,
    rate,
    keys: keysPerPartition(partitions),
    idPrefix: topic,
    maxInFlight,
    onAttempt: (a) => {
      attempts.push(a);
      const ok = a.outcome === 200 || a.outcome === 202;
      if (!ok || a.endAt - a.sentAt > SLOW_MS) unsteadyAt = a.endAt;
      if (a.outcome === 200 || a.outcome === 202) {
        answered[a.partition]++;
        if (a.sentAt >= answeredSince) answeredAfter[a.partition]++;
      }
    },
    onAck: (a) => acks.set(a.eventId, a),
  });
  let loadStarted = false;
  const lag = new LoopLag();
  lag.start();
  const oddBefore = oddFrames.length;

  try {
    await Promise.all(gateways.map((g) => g.start()));
    say(`gateways ready on ${gateways.map((g) => g.url).join(", ")}`);
    for (const m of members) {
      const joining = performance.now();
      await m.start();
      say(`group member joined in ${((performance.now() - joining) / 1000).toFixed(1)} s`);
    }
    // A group that never settles is the gateway's fault, not a reason to skip the round.
    const unsettled = await cluster.waitGroupStable(group, gateways.length, 40_000).then(
      () => undefined,
      (error: Error) => error.message,
    );
    if (unsettled) say(unsettled);
    await subscriber.start(0);
    say("group stable, subscriber ready; publishing");

    load.start();
    loadStarted = true;
    const loadStart = performance.now();
    await waitUntil(
      () => answered.every((n) => n >= answersPerPartition),
      "every partition answers before the fault",
      60_000,
    );
    const steady = () =>
      performance.now() - Math.max(unsteadyAt, loadStart) >= STEADY_MS &&
      load.oldestInFlightMs <= SLOW_MS;
    const steadyAt = await waitUntil(steady, "steady state", STEADY_WAIT_MS).then(
      () => {
        say(`steady state after ${((performance.now() - loadStart) / 1000).toFixed(1)} s`);
        return performance.now();
      },
      () => {
        say(`no steady state within ${STEADY_WAIT_MS / 1000} s; injecting the fault anyway`);
        return undefined;
      },
    );

    let faultStart = performance.now();
    const fault = await scenario.inject({
      cluster,
      topic,
      round,
      gateways,
      log: say,
      begin: () => faultStart = performance.now(),
    });
    const faultActive = performance.now();
    say(`${fault.what} (took ${((faultActive - faultStart) / 1000).toFixed(1)} s); holding`);
    await new Promise((r) => setTimeout(r, scenario.holdMs));
    const faultEnd = performance.now();
    await fault.restore();
    say("restored; waiting for replicas in sync and gateways ready");
    await cluster.waitInSync(topic);
    answeredSince = performance.now();
    await waitUntil(
      () => answeredAfter.every((n) => n >= answersPerPartition),
      "every partition answers after the fault",
      90_000,
    );
    const loadEnd = performance.now();
    const unacked = await load.stop(drainMs);
    say(`load stopped: ${load.created} events, ${acks.size} acked, ${unacked.length} never acked`);

    const ackedIds = [...acks.keys()];
    await waitUntil(
      () => ackedIds.every((id) => subscriber.received.has(id)),
      "the subscriber received every acked event",
      settleMs,
    ).catch((error) => say(String(error.message)));
    await waitUntil(
      () => ackedIds.every((id) => ledger.settled(id)),
      "the group received every acked event",
      groupSettleMs,
    ).catch((error) => say(String(error.message)));
    const stored = await cluster.readAll(topic);
    say(`read back ${stored.length} records`);

    const row = measure({
      scenario: scenario.name,
      round,
      partitions,
      leaderKill: scenario.leaderKill,
      expectNoAcks: scenario.expectNoAcks,
      loadStart,
      steadyAt,
      loadEnd,
      faultStart,
      faultActive,
      faultEnd,
      attempts,
      acks,
      unacked,
      stored,
      subscriber: {
        received: subscriber.received,
        rewinds: subscriber.rewinds,
        samples: subscriber.rewindSamples,
      },
      group: ledger,
    });
    row.notes.unshift(fault.what);
    row.notes.push(
      `the runner's event loop stalled up to ${Math.round(lag.max(loadStart, loadEnd))} ms ` +
        `(${
          Math.round(lag.max(faultStart, faultEnd + 10_000))
        } ms from the fault to 10 s after it)`,
    );

    if (unsettled) row.notes.push(`before the fault: ${unsettled}`);
    for (const line of ledger.redeliveries.slice(0, MAX_REDELIVERIES_NOTED)) {
      row.notes.push(`delivered again after its ack was confirmed: ${line}`);
    }
    const inDoubt = ledger.redeliveredInDoubt();
    if (inDoubt > 0) {
      row.notes.push(
        `${inDoubt} acked but never confirmed (their commit failed, or died with its gateway) ` +
          "were delivered to the group again: at-least-once, not counted as duplicates",
      );
    }
    for (const g of gateways) {
      const slow = await g.slowPublishes();
      if (slow && slow.over5s > 0) {
        row.notes.push(
          `gateway ${g.index} itself took over 5 s on ${slow.over5s} of ${slow.total} publishes`,
        );
      }
    }
    for (const frame of oddFrames.slice(oddBefore, oddBefore + 2)) {
      row.notes.push(`frame that is not a JSON object: ${frame}`);
    }
    for (const g of gateways) {
      for (const code of g.unexpectedExits) {
        row.notes.push(`gateway ${g.index} exited by itself (${code})`);
      }
    }
    return row;
  } finally {
    lag.stop();
    if (loadStarted) await load.stop(0).catch(() => {});
    pool.close();
    subscriber.close();
    for (const m of members) m.close();
    const codes = await Promise.all(gateways.map((g) => g.stop().catch(() => undefined)));
    if (options.logDir) {
      await Deno.mkdir(options.logDir, { recursive: true });
      // Every attempt, for questions the table does not answer: one JSON array per line.
      await Deno.writeTextFile(
        `${options.logDir}/${topic}-attempts.jsonl`,
        attempts.map((a) =>
          JSON.stringify([a.eventId, a.partition, a.gateway, a.sentAt, a.endAt, a.outcome])
        ).join("\n") + "\n",
      );
      // The runner's stalls over 20 ms: [performance.now(), lag ms] per line.
      await Deno.writeTextFile(
        `${options.logDir}/${topic}-lag.jsonl`,
        lag.samples.filter(([, ms]) => ms > 20).map((s) => JSON.stringify(s)).join("\n") + "\n",
      );
      for (const g of gateways) {
        await Deno.writeTextFile(
          `${options.logDir}/${topic}-gw${g.index}.log`,
          [...g.lines, `-- stopped with ${codes[g.index]}`].join("\n") + "\n",
        );
      }
    }
    await cluster.deleteTopic(topic);
    say("done");
  }
}

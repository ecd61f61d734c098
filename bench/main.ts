/**
 * `deno task bench`: the publish path against its baselines, in one run.
 *
 * Baselines: a hello-world `Deno.serve` (requests/s) and raw idempotent
 * producers of both Kafka clients, kafkajs `sendBatch` and
 * `@platformatic/kafka` `send` (messages/s, 64 per request, one request in
 * flight), so the clients are compared in the same run. Then the gateway's
 * `POST /v1/identifications` on the embedded and the Kafka backends at
 * concurrency 1, 16 and 64 (wrk), and at a fixed 2,000 events/s (open loop).
 * Each figure is the median of BENCH_REPEATS runs of BENCH_SECONDS. The
 * embedded gateway's target against the bare Hono + zod handler is judged on
 * the two running at once, their runs interleaved. The costs of tracing and
 * authentication compare gateways alike but for one setting in
 * BENCH_COMPARE_ROUNDS interleaved rounds of BENCH_COMPARE_SECONDS
 * (`interleaved.ts`).
 *
 * Subscriptions: POST-to-WebSocket latency at 1,000 events/s on the durable
 * (Kafka) and live (NATS) lanes, fan-out deliveries/s to 1,000 subscribers,
 * and resident memory per idle connection with 10,000 connections open
 * (BENCH_CONNECTIONS).
 *
 * Then the cost of tracing on each backend (`tracing.ts`), and of
 * authentication: publish at c=64 without credentials, with an API key and
 * with an ES256 JWT (`auth.ts`).
 */
import { Producer, stringSerializers } from "@platformatic/kafka";
import { Kafka, logLevel } from "kafkajs";
import "../testing/kafkajs_patch.ts";
import { CUSTOMER_IDENTIFIED } from "../src/events/customer_identified.ts";
import { KAFKA_BROKERS, NATS_URL, startGateway, uniqueTopic } from "../testing/harness.ts";
import { AUTH_TARGETS, authBackends, type AuthCost, authCost } from "./auth.ts";
import {
  TRACING_RUN_NAMES,
  TRACING_TARGETS,
  tracingCost,
  tracingEnv,
  tracingLines,
} from "./tracing.ts";
import {
  backlogReplay,
  deliveryLatency,
  fanOut,
  memoryPerConnection,
  REPLAY_TARGET_EVENTS_PER_SECOND,
} from "./subscribe.ts";
import { comparisonOptions, interleaved, type Standing } from "./interleaved.ts";
import { bodyFor, median, NO_PUBLISH_LIMIT, quantile, type Run, wrk as runWrk } from "./wrk.ts";
import { formatLoad, type MachineLoad, machineSampler } from "./machine.ts";
import { parseConfig } from "../src/config.ts";
import { TransactionalPartition } from "../src/log/kafka/transactional_partition.ts";
import type { BenchReport } from "./capacity.ts";

const SECONDS = Number(Deno.env.get("BENCH_SECONDS") ?? 5);
const REPEATS = Number(Deno.env.get("BENCH_REPEATS") ?? 3);
const CONCURRENCY = [1, 16, 64];
const FIXED_RATE = 2000;
const ROOT = new URL("..", import.meta.url).pathname;

const medianRun = (runs: Run[]): Run => ({
  rate: median(runs.map((r) => r.rate)),
  p50: median(runs.map((r) => r.p50)),
  p99: median(runs.map((r) => r.p99)),
  p999: median(runs.map((r) => r.p999)),
  failed: runs.reduce((n, r) => n + r.failed, 0),
});
const fmt = (n: number, digits = 0) => n.toLocaleString("en-US", { maximumFractionDigits: digits });

const wrk = (url: string, connections: number, post: boolean): Promise<Run> =>
  runWrk(url, connections, { seconds: SECONDS, post });

/** Open loop: sends at `rate` per second whatever the latency, so slow answers cannot hide. */
async function fixedRate(url: string, rate: number): Promise<Run> {
  const latencies: number[] = [];
  let failed = 0;
  const tickMs = 1;
  const perTick = rate * tickMs / 1000;
  const inFlight: Promise<void>[] = [];
  const start = performance.now();
  let sent = 0;
  for (let tick = 0; tick * tickMs < SECONDS * 1000; tick++) {
    const due = start + tick * tickMs;
    const wait = due - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    for (let i = 0; i < perTick; i++) {
      inFlight.push(
        fetch(url, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: bodyFor(sent++),
        })
          .then(async (res) => {
            await res.body?.cancel();
            if (res.status === 202) latencies.push(performance.now() - due);
            else failed++;
          }, () => void failed++),
      );
    }
  }
  await Promise.all(inFlight);
  latencies.sort((a, b) => a - b);
  const at = (q: number) => quantile(latencies, q);
  return { rate: latencies.length / SECONDS, p50: at(0.5), p99: at(0.99), p999: at(0.999), failed };
}

async function repeat(fn: () => Promise<Run>): Promise<Run> {
  const runs: Run[] = [];
  for (let i = 0; i < REPEATS; i++) runs.push(await fn());
  return medianRun(runs);
}

/** A running baseline server: its URL and process, and how to stop it. */
interface BaselineServer {
  url: string;
  pid: number;
  stop(): Promise<void>;
}

/** Starts the baseline server `script` (it listens on the port it is given). */
async function startBaseline(script: string): Promise<BaselineServer> {
  const port = 20000 + Math.floor(Math.random() * 20000);
  const server = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--frozen",
      "--allow-net",
      "--allow-read",
      `${ROOT}bench/${script}`,
      String(port),
    ],
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const reader = server.stderr.pipeThrough(new TextDecoderStream()).getReader();
  await reader.read();
  return {
    url: `http://127.0.0.1:${port}`,
    pid: server.pid,
    async stop() {
      server.kill();
      await server.status;
    },
  };
}

/** Requests/s at c=64 of the baseline server `script`. */
async function baseline(script: string, path: string, post: boolean): Promise<number> {
  const server = await startBaseline(script);
  try {
    return (await repeat(() => wrk(`${server.url}${path}`, 64, post))).rate;
  } finally {
    await server.stop();
  }
}

/**
 * The embedded gateway's publish at c=64 against the bare Hono + zod handler,
 * both running at once and their runs interleaved: the median per round of
 * the gateway's events/s over the handler's requests/s. Measured minutes
 * apart, as the table's ratios are, the two saw different machines: the
 * handler's figure alone swung from 32,696 to 86,200 requests/s between runs
 * of this benchmark. Its runs are as long as the table's: in runs of 2 s the
 * gateway made 7,373 events/s against 12,415 in runs of 5 s, the same hour,
 * so short runs would judge its start, not its pace.
 */
async function embeddedBesideBaseline(): Promise<Standing> {
  const server = await startBaseline("hono_zod_server.ts");
  const dir = await Deno.makeTempDir({ prefix: "tastesync-bench-" });
  const gateway = await startGateway({ TASTESYNC_DATA_DIR: dir, ...NO_PUBLISH_LIMIT });
  try {
    const standings = await interleaved([
      { name: "baseline", gateway: server },
      { name: "embedded", gateway },
    ], { seconds: SECONDS, repeats: REPEATS });
    return standings.get("embedded")!;
  } finally {
    await gateway.stop();
    await server.stop();
    await Deno.remove(dir, { recursive: true });
  }
}

/** Sends batches of `batchSize` with `send` for SECONDS, REPEATS times; the median messages/s. */
async function sendRate(
  batchSize: number,
  send: (messages: { key: string; value: string }[]) => Promise<unknown>,
): Promise<number> {
  const value = JSON.stringify({
    event_id: crypto.randomUUID(),
    data: CUSTOMER_IDENTIFIED.versions.v1.example,
  });
  const rates: number[] = [];
  for (let r = 0; r < REPEATS; r++) {
    let sent = 0;
    const start = performance.now();
    while (performance.now() - start < SECONDS * 1000) {
      await send(
        Array.from({ length: batchSize }, (_, i) => ({ key: `cust${(sent + i) % 1000}`, value })),
      );
      sent += batchSize;
    }
    rates.push(sent / ((performance.now() - start) / 1000));
  }
  return median(rates);
}

/**
 * Milliseconds per transaction of one record, written one after another on
 * partition 0 of `topic` with the gateway's own {@linkcode TransactionalPartition}
 * and default Kafka settings, no HTTP: the floor of a publish's latency on
 * Kafka. Each is three round trips (AddPartitionsToTxn, Produce, EndTxn), and
 * the next one's AddPartitionsToTxn is refused with CONCURRENT_TRANSACTIONS
 * until the previous commit's markers are written. Median and p99 of the
 * transactions of SECONDS.
 */
async function transactionFloor(topic: string): Promise<{ p50: number; p99: number }> {
  const k = parseConfig(undefined, {}).kafka;
  const partition = new TransactionalPartition({
    brokers: KAFKA_BROKERS.split(","),
    clientId: "bench-raw",
    connectionTimeoutMs: k.connection_timeout_ms,
    requestTimeoutMs: k.request_timeout_ms,
    retries: k.retries,
    initialRetryMs: k.initial_retry_ms,
    topic,
    partition: 0,
    transactionalId: `bench-raw-${crypto.randomUUID()}`,
    transactionTimeoutMs: k.publish_timeout_ms,
  });
  const value = JSON.stringify({ data: CUSTOMER_IDENTIFIED.versions.v1.example });
  const times: number[] = [];
  try {
    const end = performance.now() + SECONDS * 1000;
    for (let i = 0; performance.now() < end; i++) {
      const start = performance.now();
      await partition.write([{ key: `cust${i % 1000}`, value, headers: {} }]);
      await partition.commit();
      if (i > 0) times.push(performance.now() - start); // the first one connects
    }
  } finally {
    await partition.close();
  }
  times.sort((a, b) => a - b);
  return { p50: quantile(times, 0.5), p99: quantile(times, 0.99) };
}

async function kafkaBaseline(
  batchSize: number,
): Promise<{ kafkajs: number; platformatic: number; transaction: { p50: number; p99: number } }> {
  const kafka = new Kafka({
    clientId: "bench-raw",
    brokers: KAFKA_BROKERS.split(","),
    logLevel: logLevel.NOTHING,
  });
  const admin = kafka.admin();
  const topic = uniqueTopic("bench-raw");
  await admin.connect();
  await admin.createTopics({
    waitForLeaders: true,
    topics: [{ topic, numPartitions: 3, replicationFactor: 1 }],
  });
  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
  await producer.connect();
  const kafkajs = await sendRate(
    batchSize,
    (messages) => producer.sendBatch({ acks: -1, topicMessages: [{ topic, messages }] }),
  );
  await producer.disconnect();
  const platformaticProducer = new Producer({
    clientId: "bench-raw",
    bootstrapBrokers: KAFKA_BROKERS.split(","),
    idempotent: true,
    acks: -1,
    serializers: stringSerializers,
  });
  const platformatic = await sendRate(
    batchSize,
    (messages) => platformaticProducer.send({ messages: messages.map((m) => ({ ...m, topic })) }),
  );
  await platformaticProducer.close();
  const transaction = await transactionFloor(topic);
  await admin.deleteTopics({ topics: [topic] }).catch(() => {});
  await admin.disconnect();
  return { kafkajs, platformatic, transaction };
}

async function gatewayRuns(env: Record<string, string>): Promise<Map<string, Run>> {
  const gateway = await startGateway({ ...env, ...NO_PUBLISH_LIMIT });
  const url = `${gateway.url}/v1/identifications`;
  const results = new Map<string, Run>();
  try {
    await wrk(url, 16, true); // warm-up: JIT, connections, topic metadata
    for (const c of CONCURRENCY) results.set(`c=${c}`, await repeat(() => wrk(url, c, true)));
    results.set(`${FIXED_RATE}/s`, await repeat(() => fixedRate(url, FIXED_RATE)));
  } finally {
    await gateway.stop();
  }
  return results;
}

/** The machine's load during each section, by name (printed, and in `--json`). */
const machine: Record<string, MachineLoad> = {};

/** Starts the section `name`: the returned function prints and keeps the machine's load since. */
async function section(name: string): Promise<() => Promise<void>> {
  const sample = await machineSampler();
  return async () => {
    const load = await sample();
    if (!load) return;
    machine[name] = load;
    console.log(`  (${name}: ${formatLoad(load)})`);
  };
}

const kafkaUp = await Deno.connect({
  hostname: "127.0.0.1",
  port: Number(KAFKA_BROKERS.split(",")[0].split(":")[1]),
})
  .then((c) => (c.close(), true), () => false);
console.log(
  `TasteSync publish benchmark: ${SECONDS}s x ${REPEATS} repeats (median), ${navigator.hardwareConcurrency} cores`,
);
const baselinesDone = await section("baselines");
const hello = await baseline("hello_server.ts", "/", false);
console.log(`baseline  Deno.serve hello world, wrk c=64          ${fmt(hello)} req/s`);
// The HTTP + validation limit: the same schema, no log. The gateway's publish is measured against it.
const honoZod = await baseline("hono_zod_server.ts", "/v1/identifications", true);
console.log(`baseline  bare Hono + zod handler, wrk c=64         ${fmt(honoZod)} req/s`);
const clients = kafkaUp
  ? await kafkaBaseline(64)
  : { kafkajs: NaN, platformatic: NaN, transaction: { p50: NaN, p99: NaN } };
for (const name of ["kafkajs", "platformatic"] as const) {
  console.log(
    `baseline  ${name.padEnd(12)} x64, acks=all, idempotent  ${
      kafkaUp ? fmt(clients[name]) + " msg/s" : "skipped: no broker"
    }`,
  );
}
console.log(
  `baseline  transactions of 1 record, one after another  ${
    kafkaUp
      ? `p50 ${fmt(clients.transaction.p50, 2)} ms, p99 ${
        fmt(clients.transaction.p99, 2)
      } ms (the floor of a Kafka publish)`
      : "skipped: no broker"
  }`,
);
await baselinesDone();
// The gateway's Kafka client is the raw baseline it is measured against.
const raw = clients.platformatic;

const dataDir = await Deno.makeTempDir({ prefix: "tastesync-bench-" });
const backends: [string, Record<string, string>][] = [["embedded", {
  TASTESYNC_DATA_DIR: dataDir,
}]];
if (kafkaUp) {
  backends.push(["kafka", {
    TASTESYNC_KAFKA_BROKERS: KAFKA_BROKERS,
    TASTESYNC_KAFKA_TOPIC: uniqueTopic("bench"),
  }]);
}
const all = new Map<string, Map<string, Run>>();
console.log(
  "\nbackend   load      events/s    p50 ms   p99 ms  p99.9 ms  failed  vs hono+zod  vs raw kafka",
);
for (const [name, env] of backends) {
  const done = await section(`publish, ${name}`);
  const runs = await gatewayRuns(env);
  all.set(name, runs);
  for (const [load, r] of runs) {
    console.log(
      `${name.padEnd(9)} ${load.padEnd(8)} ${fmt(r.rate).padStart(9)} ${
        fmt(r.p50, 2).padStart(9)
      } ${fmt(r.p99, 2).padStart(8)} ${fmt(r.p999, 2).padStart(9)} ${
        String(r.failed).padStart(7)
      } ${(r.rate / honoZod).toFixed(3).padStart(11)} ${
        (name === "kafka" ? (r.rate / raw).toFixed(3) : "-").padStart(13)
      }`,
    );
  }
  await done();
}
await Deno.remove(dataDir, { recursive: true });

const check = (label: string, ok: boolean | undefined, value: string) =>
  console.log(`${ok === undefined ? "SKIP" : ok ? "PASS" : "MISS"}  ${label}: ${value}`);
console.log("\npublish targets");
const k = all.get("kafka");
check(
  "kafka, acks=all, c=64 >= 10,000 events/s",
  k && k.get("c=64")!.rate >= 10_000,
  k ? fmt(k.get("c=64")!.rate) : "-",
);
check(
  "kafka p99 <= 20 ms at 2,000 events/s",
  k && k.get("2000/s")!.p99 <= 20,
  k ? fmt(k.get("2000/s")!.p99, 2) + " ms" : "-",
);
check(
  "kafka, acks=all, c=64 >= 0.35 of the raw producer",
  k && k.get("c=64")!.rate / raw >= 0.35,
  k ? (k.get("c=64")!.rate / raw).toFixed(3) : "-",
);
const e = all.get("embedded")!;
const besideDone = await section("embedded beside its baseline");
const beside = await embeddedBesideBaseline();
await besideDone();
check(
  "embedded c=64 >= 0.40 of the bare Hono + zod handler (interleaved, median per round)",
  beside.rateRatio >= 0.40,
  `${beside.rateRatio.toFixed(3)} (${fmt(beside.rate)} events/s; ` +
    `${(e.get("c=64")!.rate / honoZod).toFixed(3)} against the baseline measured first)`,
);
check(
  "embedded >= 15,000 events/s (c=64)",
  e.get("c=64")!.rate >= 15_000,
  fmt(e.get("c=64")!.rate),
);

console.log("\nsubscriptions");
const streamingEnv: Record<string, string> = kafkaUp
  ? {
    TASTESYNC_KAFKA_BROKERS: KAFKA_BROKERS,
    TASTESYNC_NATS_URL: NATS_URL,
    TASTESYNC_KAFKA_TOPIC: uniqueTopic("bench-sub"),
  }
  : { TASTESYNC_DATA_DIR: await Deno.makeTempDir({ prefix: "tastesync-bench-" }) };
const lanesDone = await section("lanes");
const lanes = await deliveryLatency(streamingEnv, 1000, SECONDS);
for (const [lane, r] of Object.entries(lanes)) {
  console.log(
    `${lane.padEnd(8)} lane at 1,000 events/s: POST-to-WebSocket p50 ${fmt(r.p50, 2)} ms, p99 ${
      fmt(r.p99, 2)
    } ms (${r.received}/${r.sent} received)`,
  );
}
await lanesDone();
const fanDone = await section("fan-out");
const fan = await fanOut(streamingEnv, 1000, 200);
console.log(
  `fan-out, 200 events to 1,000 WebSocket subscribers: ${
    fmt(fan.deliveriesPerSecond)
  } deliveries/s (gateway CPU ${fmt(fan.gatewayBusy * 100)}% of a core)`,
);
await fanDone();
const connections = Number(Deno.env.get("BENCH_CONNECTIONS") ?? 10_000);
const memory = await memoryPerConnection(
  { TASTESYNC_DATA_DIR: await Deno.makeTempDir({ prefix: "tastesync-bench-" }) },
  connections,
);
console.log(
  `memory, ${fmt(memory.connections)} idle WebSocket connections: ${
    fmt(memory.bytesPerConnection / 1024, 1)
  } KiB each`,
);
const replayEnv: Record<string, string> = kafkaUp
  ? { ...streamingEnv, TASTESYNC_KAFKA_TOPIC: uniqueTopic("bench-replay") }
  : { TASTESYNC_DATA_DIR: await Deno.makeTempDir({ prefix: "tastesync-bench-" }) };
const replayDone = await section("replay");
const replay = await backlogReplay(replayEnv, 100_000);
console.log(
  `replay, 100,000-event backlog over one WebSocket: ${fmt(replay.eventsPerSecond)} events/s`,
);
await replayDone();

console.log("\nsubscription targets");
const kafkaLanes = kafkaUp ? lanes : undefined;
check(
  "durable (Kafka) lane p99 <= 15 ms",
  kafkaLanes && kafkaLanes.durable.p99 <= 15,
  kafkaLanes ? fmt(kafkaLanes.durable.p99, 2) + " ms" : "-",
);
check(
  "live (NATS) lane p99 <= 5 ms",
  kafkaLanes && kafkaLanes.live.p99 <= 5,
  kafkaLanes ? fmt(kafkaLanes.live.p99, 2) + " ms" : "-",
);
check(
  ">= 100,000 deliveries/s fan-out to 1,000 subscribers",
  fan.deliveriesPerSecond >= 100_000,
  fmt(fan.deliveriesPerSecond),
);
check(
  ">= 20,000 events/s backlog replay over WebSocket",
  replay.eventsPerSecond >= REPLAY_TARGET_EVENTS_PER_SECOND,
  fmt(replay.eventsPerSecond),
);
check(
  "<= 24 KiB per idle connection",
  memory.bytesPerConnection <= 24 * 1024,
  fmt(memory.bytesPerConnection / 1024, 1) + " KiB",
);

console.log(
  "\ntracing: publish c=64, runs interleaved; cost judged on CPU per publish, on each backend",
);
/** Each backend's tracing runs: on the embedded log a publish costs the least, so tracing the most. */
const traced = new Map<string, Map<string, Standing>>();
for (const kafka of kafkaUp ? [false, true] : [false]) {
  const backend = kafka ? "kafka" : "embedded";
  const done = await section(`tracing, ${backend}`);
  const runs = await tracingCost(tracingEnv(kafka), comparisonOptions());
  traced.set(backend, runs);
  for (const line of tracingLines(runs, backend)) console.log(line);
  await done();
  const costOf = (name: string) => 1 - runs.get(name)!.cpuRatio;
  const noise = `${(costOf(TRACING_RUN_NAMES.control) * 100).toFixed(1)}% for tracing off`;
  for (
    const [name, target, label] of [
      [TRACING_RUN_NAMES.sampled10, TRACING_TARGETS.sampled10, "10%"],
      [TRACING_RUN_NAMES.sampled100, TRACING_TARGETS.sampled100, "100%"],
    ] as const
  ) {
    check(
      `${backend}: tracing at ${label} costs <= ${target * 100}% (CPU per publish)`,
      costOf(name) <= target,
      `${(costOf(name) * 100).toFixed(1)}% (noise of the run: ${noise})`,
    );
  }
}

console.log(
  "\nauthentication: publish c=64, runs interleaved; events/s medians, ratios the median per round",
);
console.log(
  "backend   none events/s  API key events/s  ratio  ES256 JWT events/s  ratio  CPU/publish ratios (key, JWT)",
);
const authRuns: [string, AuthCost][] = [];
for (const [name, env] of authBackends(kafkaUp)) {
  const done = await section(`authentication, ${name}`);
  const r = await authCost(env, comparisonOptions());
  authRuns.push([name, r]);
  console.log(
    `${name.padEnd(9)} ${fmt(r.none).padStart(13)} ${fmt(r.apiKey).padStart(17)} ${
      r.apiKeyRatio.toFixed(3).padStart(6)
    } ${fmt(r.jwt).padStart(19)} ${r.jwtRatio.toFixed(3).padStart(6)}  ${
      r.apiKeyCpuRatio.toFixed(3)
    }, ${r.jwtCpuRatio.toFixed(3)}`,
  );
  await done();
}
// Judged on CPU per publish: on a shared machine the wall-clock ratios swing by +-10% (a control
// run of three identical gateways), more than the cost being measured.
for (const [name, r] of authRuns) {
  check(
    `${name}: API key >= ${AUTH_TARGETS.apiKey} of none (CPU per publish)`,
    r.apiKeyCpuRatio >= AUTH_TARGETS.apiKey,
    `${r.apiKeyCpuRatio.toFixed(3)} (wall clock ${r.apiKeyRatio.toFixed(3)})`,
  );
  check(
    `${name}: ES256 JWT >= ${AUTH_TARGETS.jwt} of none (CPU per publish)`,
    r.jwtCpuRatio >= AUTH_TARGETS.jwt,
    `${r.jwtCpuRatio.toFixed(3)} (wall clock ${r.jwtRatio.toFixed(3)})`,
  );
}

/**
 * `--json FILE`: the figures of this run, for the capacity plan
 * (`deno task capacity --bench FILE`; see `bench/capacity.ts`).
 */
const jsonAt = Deno.args.indexOf("--json");
if (jsonAt >= 0) {
  const report: BenchReport = {
    cores: navigator.hardwareConcurrency,
    baselines: {
      hello,
      honoZod,
      kafkaRaw: raw,
      kafkaTransactionP50Ms: clients.transaction.p50,
      kafkaTransactionP99Ms: clients.transaction.p99,
    },
    publish: Object.fromEntries(
      [...all].map(([backend, runs]) => [backend, Object.fromEntries(runs)]),
    ),
    subscriptions: {
      durableP99Ms: lanes.durable.p99,
      liveP99Ms: lanes.live.p99,
      fanOutDeliveriesPerSecond: fan.deliveriesPerSecond,
      bytesPerConnection: memory.bytesPerConnection,
      replayEventsPerSecond: replay.eventsPerSecond,
    },
    tracing: Object.fromEntries(
      [...traced].flatMap(([backend, runs]) =>
        [...runs].map(([name, { rate }]) => [`${backend}: ${name}`, rate])
      ),
    ),
    auth: Object.fromEntries(authRuns.map(([name, r]) => [name, r])),
    machine,
  };
  await Deno.writeTextFile(Deno.args[jsonAt + 1], JSON.stringify(report, null, 2) + "\n");
  console.log(`\nwrote ${Deno.args[jsonAt + 1]}`);
}

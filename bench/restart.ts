/**
 * `deno task restart-bench`: how long a gateway takes from spawn to
 * `/readyz` 200 with a full dedup window, on the embedded log and on Kafka,
 * next to the same start on an empty log (the baseline: process start and
 * connecting, nothing to load).
 *
 * The log is filled once per backend with `--ids` events (1,000,000 by
 * default) written the way the gateway writes them: records built by the
 * gateway's own {@linkcode Publisher}, appended through the embedded log's
 * API, or sent to Kafka by a raw `@platformatic/kafka` producer with the
 * gateway's partition and dedup headers. Then the gateway is started
 * `--repeats` times (3); each start is timed to `/readyz` 200, checked to
 * answer a retry of the oldest and the newest id as a duplicate, and stopped
 * with SIGTERM (timed too). The table shows medians. On the embedded log it
 * also times the first start after every id has expired (all to prune).
 *
 * Options: `--ids N`, `--repeats N`, `--backends embedded,kafka`,
 * `--gateway-dir DIR` (time another checkout of the gateway).
 *
 * @module
 */
import { parseArgs } from "node:util";
import { Admin, Producer, stringSerializers } from "@platformatic/kafka";
import { InProcessBus } from "../src/bus/live_bus.ts";
import { parseConfig } from "../src/config.ts";
import { EventRegistry } from "../src/events/registry.ts";
import { validateData } from "../src/events/validate.ts";
import { EmbeddedLog } from "../src/log/embedded/embedded_log.ts";
import type { LogRecord } from "../src/log/event_log.ts";
import { EVENT_ID_HEADER, FINGERPRINT_HEADER } from "../src/log/kafka/client.ts";
import { partitionFor } from "../src/log/partitioner.ts";
import { Publisher } from "../src/publish/publisher.ts";
import { identification, KAFKA_BROKERS, startGateway, uniqueTopic } from "../testing/harness.ts";

/** Spawn to ready on the embedded log with a full window, in ms (issue 8). */
const EMBEDDED_TARGET_MS = 2000;
/** Spawn to ready on Kafka with a full window, in ms (issue 8). */
const KAFKA_TARGET_MS = 3000;
/** Distinct customers (partition keys) the filled events are spread over. */
const CUSTOMERS = 1000;
/** Events appended to the embedded log per transaction while filling. */
const EMBEDDED_FILL_CHUNK = 20_000;
/** Records per produce request while filling Kafka. */
const KAFKA_FILL_BATCH = 2000;
/** Produce requests in flight while filling Kafka. */
const KAFKA_FILL_IN_FLIGHT = 8;
/** How often `/readyz` is asked while waiting, in ms. */
const READY_POLL_MS = 10;
/** Longest wait for `/readyz` 200, in ms. */
const READY_TIMEOUT_MS = 120_000;

const { values } = parseArgs({
  args: Deno.args,
  options: {
    ids: { type: "string", default: "1000000" },
    repeats: { type: "string", default: "3" },
    backends: { type: "string", default: "embedded,kafka" },
    "gateway-dir": { type: "string" },
  },
});
const IDS = Number(values.ids);
const REPEATS = Number(values.repeats);
const GATEWAY_DIR = values["gateway-dir"];

/** The gateway's defaults: the topic, partitions and dedup window it runs with. */
const defaults = parseConfig(undefined, {});
const registry = new EventRegistry();
const type = registry.get("CustomerIdentified", "v1")!;
const fmt = (n: number) => n.toLocaleString("en-US", { maximumFractionDigits: 0 });
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const eventId = (i: number) => `restart-${i}`;
const customer = (i: number) => `c${i % CUSTOMERS}`;

/** One record per customer, built by the gateway's publisher (the log is a recorder). */
async function templates(topic: string): Promise<LogRecord[]> {
  const recorded: LogRecord[] = [];
  const publisher = new Publisher(
    {
      append: (record) => {
        recorded.push(record);
        return Promise.resolve({ topic, partition: 0, offset: "0", duplicate: false });
      },
    },
    new InProcessBus(),
    { topic, subjectPrefix: "bench", onMirrorDropped: () => {} },
  );
  for (let c = 0; c < CUSTOMERS; c++) {
    const validated = validateData(type, identification({ customer_id: customer(c) }), "template");
    if (!validated.ok) throw new Error(JSON.stringify(validated.errors));
    await publisher.publish(validated.envelope, validated.type);
  }
  return recorded;
}

/** Event `i` as the gateway would have appended it: its customer's template under its own id. */
function recordOf(template: LogRecord, i: number): LogRecord {
  const id = eventId(i);
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(template.headers)) {
    headers[name] = value === template.eventId ? id : value;
  }
  return {
    ...template,
    eventId: id,
    value: template.value.replace(`"${template.eventId}"`, `"${id}"`),
    headers,
  };
}

async function fillEmbedded(dataDir: string): Promise<void> {
  const forms = await templates(defaults.kafka.topic);
  const log = new EmbeddedLog({
    dataDir,
    partitions: defaults.kafka.partitions,
    dedupWindowMs: defaults.dedup.window,
    sync: "normal",
  });
  try {
    for (let start = 0; start < IDS; start += EMBEDDED_FILL_CHUNK) {
      const end = Math.min(IDS, start + EMBEDDED_FILL_CHUNK);
      const appends = [];
      for (let i = start; i < end; i++) appends.push(log.append(recordOf(forms[i % CUSTOMERS], i)));
      await Promise.all(appends);
    }
  } finally {
    await log.close();
  }
}

async function fillKafka(admin: Admin, topic: string): Promise<void> {
  await admin.createTopics({ topics: [topic], partitions: defaults.kafka.partitions, replicas: 1 });
  const forms = await templates(topic);
  const producer = new Producer({
    clientId: "bench-restart",
    bootstrapBrokers: KAFKA_BROKERS.split(","),
    acks: -1,
    autocreateTopics: false,
    serializers: stringSerializers,
  });
  let next = 0;
  const sender = async () => {
    while (next < IDS) {
      const start = next;
      next = Math.min(IDS, next + KAFKA_FILL_BATCH);
      const messages = [];
      for (let i = start; i < next; i++) {
        const r = recordOf(forms[i % CUSTOMERS], i);
        // Exactly what KafkaLog.append sends.
        messages.push({
          topic,
          partition: partitionFor(r.key, defaults.kafka.partitions),
          key: r.key,
          value: r.value,
          headers: {
            ...r.headers,
            [EVENT_ID_HEADER]: r.eventId,
            [FINGERPRINT_HEADER]: r.fingerprint,
          },
        });
      }
      await producer.send({ messages });
    }
  };
  try {
    await Promise.all(Array.from({ length: KAFKA_FILL_IN_FLIGHT }, sender));
  } finally {
    await producer.close();
  }
}

interface Start {
  /** Spawn to "Gateway listening": process start, before the log is ready. */
  listeningMs: number;
  readyMs: number;
  stopMs: number;
  rssMb: number;
  /** Exit codes after SIGTERM (0: drained and stopped). */
  exits: number[];
}

/** Spawns the gateway, times it to `/readyz` 200, checks a retry is a duplicate, stops it. */
async function timedStart(env: Record<string, string>, ids: number): Promise<Start> {
  const spawned = performance.now();
  const gateway = await startGateway(env, {
    ready: false,
    ...(GATEWAY_DIR && { cwd: GATEWAY_DIR }),
  });
  const listeningMs = performance.now() - spawned;
  let readyMs = NaN;
  try {
    for (;;) {
      const res = await fetch(`${gateway.url}/readyz`).catch(() => undefined);
      await res?.body?.cancel();
      if (res?.status === 200) break;
      if (performance.now() - spawned > READY_TIMEOUT_MS) throw new Error("never ready");
      await new Promise((r) => setTimeout(r, READY_POLL_MS));
    }
    readyMs = performance.now() - spawned;
    for (const i of ids > 0 ? [0, ids - 1] : []) {
      const res = await gateway.post(
        "/v1/identifications",
        identification({ customer_id: customer(i) }),
        { "idempotency-key": eventId(i) },
      );
      const body = await res.json();
      if (res.status !== 200 || !body.duplicate) {
        throw new Error(`a retry of ${eventId(i)} was not a duplicate: ${JSON.stringify(body)}`);
      }
    }
  } catch (error) {
    await gateway.stop();
    throw new Error(`${error}\n${gateway.lines.slice(-20).join("\n")}`);
  }
  const status = await Deno.readTextFile(`/proc/${gateway.pid}/status`);
  const rssMb = Number(status.match(/VmRSS:\s+(\d+)/)?.[1]) / 1024;
  const stopping = performance.now();
  const code = await gateway.stop();
  return { listeningMs, readyMs, stopMs: performance.now() - stopping, rssMb, exits: [code] };
}

async function measure(env: Record<string, string>, ids: number): Promise<Start> {
  const runs: Start[] = [];
  for (let r = 0; r < REPEATS; r++) runs.push(await timedStart(env, ids));
  return {
    listeningMs: median(runs.map((r) => r.listeningMs)),
    readyMs: median(runs.map((r) => r.readyMs)),
    stopMs: median(runs.map((r) => r.stopMs)),
    rssMb: median(runs.map((r) => r.rssMb)),
    exits: runs.flatMap((r) => r.exits),
  };
}

interface Row {
  backend: string;
  empty: Start;
  full: Start;
  fillS: number;
  targetMs: number;
  /** The first start of the same log with a window shorter than its age: every id has expired. */
  expired?: Start;
}

async function embeddedRow(): Promise<Row> {
  const emptyDir = await Deno.makeTempDir({ prefix: "tastesync-restart-" });
  const fullDir = await Deno.makeTempDir({ prefix: "tastesync-restart-" });
  try {
    const empty = await measure({ TASTESYNC_DATA_DIR: emptyDir }, 0);
    const filling = performance.now();
    await fillEmbedded(fullDir);
    const fillS = (performance.now() - filling) / 1000;
    const full = await measure({ TASTESYNC_DATA_DIR: fullDir }, IDS);
    // One start: it is the first after the ids expired that has them all to prune.
    const expired = await timedStart(
      { TASTESYNC_DATA_DIR: fullDir, TASTESYNC_DEDUP_WINDOW: "1s" },
      0,
    );
    return { backend: "embedded", empty, full, fillS, targetMs: EMBEDDED_TARGET_MS, expired };
  } finally {
    await Deno.remove(emptyDir, { recursive: true });
    await Deno.remove(fullDir, { recursive: true });
  }
}

async function kafkaRow(): Promise<Row> {
  const admin = new Admin({
    clientId: "bench-restart",
    bootstrapBrokers: KAFKA_BROKERS.split(","),
  });
  const emptyTopic = uniqueTopic("bench-restart");
  const fullTopic = uniqueTopic("bench-restart");
  const env = (topic: string) => ({
    TASTESYNC_KAFKA_BROKERS: KAFKA_BROKERS,
    TASTESYNC_KAFKA_TOPIC: topic,
  });
  try {
    const empty = await measure(env(emptyTopic), 0);
    const filling = performance.now();
    await fillKafka(admin, fullTopic);
    const fillS = (performance.now() - filling) / 1000;
    const full = await measure(env(fullTopic), IDS);
    return { backend: "kafka", empty, full, fillS, targetMs: KAFKA_TARGET_MS };
  } finally {
    const topics = (await admin.listTopics()).filter((t) => t === emptyTopic || t === fullTopic);
    if (topics.length > 0) await admin.deleteTopics({ topics });
    await admin.close();
  }
}

const rows: Row[] = [];
for (const backend of values.backends.split(",")) {
  rows.push(await (backend === "kafka" ? kafkaRow() : embeddedRow()));
}
console.log(
  `TasteSync restart benchmark: spawn to /readyz 200, median of ${REPEATS}, ${navigator.hardwareConcurrency} cores${
    GATEWAY_DIR ? `, gateway in ${GATEWAY_DIR}` : ""
  }`,
);
console.log(
  "\nbackend   ids in window  empty log ms  full window ms  (listening)  SIGTERM ms  RSS MB  fill s  target",
);
for (const r of rows) {
  const ok = r.full.readyMs <= r.targetMs ? "PASS" : "MISS";
  console.log(
    `${r.backend.padEnd(9)} ${fmt(IDS).padStart(13)} ${fmt(r.empty.readyMs).padStart(13)} ${
      fmt(r.full.readyMs).padStart(15)
    } ${`(${fmt(r.full.listeningMs)})`.padStart(12)} ${fmt(r.full.stopMs).padStart(11)} ${
      fmt(r.full.rssMb).padStart(7)
    } ${r.fillS.toFixed(1).padStart(7)}  ${ok} <= ${fmt(r.targetMs)} ms`,
  );
}
for (const r of rows.filter((r) => r.expired)) {
  console.log(
    `\n${r.backend}: first start after the same ${fmt(IDS)} ids expired (dedup.window 1s): ${
      fmt(r.expired!.readyMs)
    } ms to ready`,
  );
}
for (const r of rows) {
  const exits = [r.empty, r.full, ...(r.expired ? [r.expired] : [])].flatMap((s) => s.exits);
  const failed = exits.filter((code) => code !== 0);
  if (failed.length > 0) {
    console.log(
      `\n${r.backend}: SIGTERM ended ${failed.length} of ${exits.length} starts with exit ${
        [...new Set(failed)].join(", ")
      } instead of 0`,
    );
  }
}

/**
 * `deno task soak`: one gateway process for 30 minutes at half the publish
 * throughput measured at the start, while subscribers of every kind (durable
 * WebSocket, group WebSocket with acks, live WebSocket, Server-Sent Events)
 * keep connecting and leaving. Prints the gateway's resident memory and open
 * file descriptors every minute, and at the end the growth per minute after
 * the warm-up (least squares). Goal: under 1 MB per minute. Not run in CI.
 *
 * Runs on a 3-node cluster of its own (`.cache/soak`, Kafka on 29092..,
 * NATS on 24222; started when not running, stopped again), so neither the
 * 1-broker services of other test runs nor the chaos suite wait for it.
 *
 * Options: `--minutes N` (30), `--warmup N` (5 minutes left out of the
 * growth), `--rate N` (skip the measurement, publish N/s), `--subscribers N`
 * (24 open at a time), `--churn N` (subscribers replaced per second, 2),
 * `--dedup-window D` (2m: the gateway remembers every event id for the
 * dedup window, about 120 bytes each, by design; a window shorter than the
 * warm-up makes that index steady, so what grows afterwards is a leak),
 * `--gateway-dir DIR` (run another checkout of the gateway), `--snapshots DIR`
 * (write V8 heap snapshots there at the end of the warm-up and at the end, to
 * compare in Chrome's DevTools or with `bench/heap_diff.ts`).
 *
 * RSS swings by 100 MB and more with V8's garbage collection, so each sample
 * also splits it, through the gateway's inspector (`--inspect` on a loopback
 * port), into V8's committed heap, ArrayBuffers (external) and the rest
 * (native), and each minute reads the live heap after a full collection: what
 * grows there after the warm-up is held by something.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { CUSTOMER_IDENTIFIED } from "../src/events/customer_identified.ts";
import { Cluster, freePort, soakClusterOptions } from "../testing/cluster.ts";
import { type GatewayProcess, startGateway } from "../testing/harness.ts";
import { GatewayPool, keysPerPartition, PublishLoad } from "../testing/publish_load.ts";
import { Inspector } from "../testing/inspector.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    minutes: { type: "string", default: "30" },
    warmup: { type: "string", default: "5" },
    rate: { type: "string" },
    subscribers: { type: "string", default: "24" },
    churn: { type: "string", default: "2" },
    "measure-seconds": { type: "string", default: "15" },
    "dedup-window": { type: "string", default: "2m" },
    "gateway-dir": { type: "string", default: Deno.env.get("TASTESYNC_CHAOS_GATEWAY_DIR") },
    snapshots: { type: "string" },
  },
});
const MINUTES = Number(values.minutes);
const WARMUP = Number(values.warmup);
const SUBSCRIBERS = Number(values.subscribers);
const CHURN_PER_SECOND = Number(values.churn);
const PARTITIONS = 6;
/** Growth goal after the warm-up, MB per minute. */
const GOAL_MB_PER_MINUTE = 1;
/**
 * The publishers' keep-alive connections: as many as the throughput
 * measurement's concurrency, idle ones closed after 30 s. With the runtime's
 * shared pool, every burst of retries left its connections open for good
 * (894 idle of them one minute in, the gateway's open fds climbing +26 a
 * minute), and the gateway's memory for them read as a leak.
 */
const publishers = Deno.createHttpClient({ poolMaxIdlePerHost: 64, poolIdleTimeout: 30_000 });

const log = (line: string) => console.error(line);

/** Bytes in one MB as the soak prints them (MiB, as /proc counts). */
const MB = 1024 * 1024;

/** Resident memory (MB) and open file descriptors of process `pid`, from /proc. */
async function usage(pid: number): Promise<{ rssMb: number; fds: number }> {
  const status = await Deno.readTextFile(`/proc/${pid}/status`);
  const kb = Number(status.match(/^VmRSS:\s+(\d+) kB/m)?.[1] ?? NaN);
  let fds = 0;
  for await (const _ of Deno.readDir(`/proc/${pid}/fd`)) fds++;
  return { rssMb: kb * 1024 / MB, fds };
}

/** One reading of the gateway's memory, in MB, and its open file descriptors. */
interface Sample {
  minute: number;
  rssMb: number;
  fds: number;
  /** V8's committed heap: live objects and garbage not yet collected. */
  heapTotalMb: number;
  /** Memory of ArrayBuffers (Buffers of sockets, records) outside the heap. */
  externalMb: number;
  /** The rest of RSS: the runtime's own memory (HTTP, sockets, code). */
  nativeMb: number;
}

/** Least-squares slope of `ys` over `xs`. */
function slope(xs: number[], ys: number[]): number {
  const n = xs.length;
  if (n < 2) return 0;
  const mx = xs.reduce((a, b) => a + b, 0) / n;
  const my = ys.reduce((a, b) => a + b, 0) / n;
  let num = 0;
  let den = 0;
  for (let i = 0; i < n; i++) {
    num += (xs[i] - mx) * (ys[i] - my);
    den += (xs[i] - mx) ** 2;
  }
  return den === 0 ? 0 : num / den;
}

/** Closed loop at concurrency 64 for `seconds`: acknowledged publishes per second. */
async function measureThroughput(url: string, seconds: number): Promise<number> {
  const example = CUSTOMER_IDENTIFIED.versions.v1.example;
  const keys = keysPerPartition(PARTITIONS).flat();
  const end = performance.now() + seconds * 1000;
  let ok = 0;
  let n = 0;
  await Promise.all(Array.from({ length: 64 }, async () => {
    while (performance.now() < end) {
      const i = n++;
      const res = await fetch(`${url}/v1/identifications`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({
          ...example,
          customer_id: keys[i % keys.length],
          event_id: `m-${i}`,
        }),
        client: publishers,
      }).catch(() => undefined);
      await res?.body?.cancel();
      if (res?.status === 202) ok++;
    }
  }));
  return ok / seconds;
}

/** A subscriber that can be told to leave. */
interface Churner {
  close(): void;
}

/** The kinds of subscriber in the mix, in the order {@linkcode openSubscriber} cycles through them. */
const KINDS = ["durable", "group", "live", "SSE"] as const;
type Kind = typeof KINDS[number];

const counters = { connects: 0, failedConnects: 0 };
/** Events delivered so far, by kind of subscriber. */
const delivered: Record<Kind, number> = { durable: 0, group: 0, live: 0, SSE: 0 };

function openWebSocket(url: string, query: string, kind: Kind): Churner {
  const socket = new WebSocket(`${url.replace("http", "ws")}/v1/subscribe?${query}`);
  socket.onopen = () => counters.connects++;
  socket.onerror = () => counters.failedConnects++;
  socket.onmessage = (e) => {
    const frame = JSON.parse(e.data);
    if (frame.type !== "event") return;
    delivered[kind]++;
    if (kind === "group" && socket.readyState === WebSocket.OPEN) {
      socket.send(JSON.stringify({ type: "ack", cursor: frame.cursor }));
    }
  };
  return { close: () => socket.close() };
}

function openStream(url: string): Churner {
  const controller = new AbortController();
  let events: ReadableStreamDefaultReader<string> | undefined;
  (async () => {
    const res = await fetch(`${url}/v1/stream`, { signal: controller.signal });
    counters.connects++;
    if (controller.signal.aborted) return void await res.body?.cancel();
    events = res.body!.pipeThrough(new TextDecoderStream()).getReader();
    // Each event is one `id:` line; a chunk can end inside a line.
    let partial = "";
    for (;;) {
      const { done, value } = await events.read();
      if (done) break;
      const lines = (partial + value).split("\n");
      partial = lines.pop()!;
      for (const line of lines) if (line.startsWith("id: ")) delivered.SSE++;
    }
  })().catch((error) => {
    if (!controller.signal.aborted) counters.failedConnects++;
    void error;
  });
  return {
    // The body is cancelled too: Deno 2.9's fetch went on delivering a busy stream's body after
    // its signal aborted (13,354 chunks in 10 s of 2 aborts a second), so the gateway never saw
    // those subscribers leave: 157 of them piled up in minute 6 of a soak, each read to the end.
    close: () => {
      controller.abort();
      void events?.cancel().catch(() => {});
    },
  };
}

/** Subscriber `i` of the mix: durable, group (acking), live, SSE. */
function openSubscriber(url: string, i: number): Churner {
  switch (i % 4) {
    case 0:
      return openWebSocket(url, "from=latest", "durable");
    case 1:
      return openWebSocket(url, `group=soak-${i % 3}`, "group");
    case 2:
      return openWebSocket(url, "mode=live", "live");
    default:
      return openStream(url);
  }
}

const options = soakClusterOptions();
const cluster = new Cluster(options);
const unlock = await cluster.lock();
const startedHere = !(await cluster.running());
await cluster.start();
const topic = `soak-${Date.now().toString(36)}`;
await cluster.createTopic(topic, PARTITIONS);
const port = freePort();
const inspectAt = `127.0.0.1:${freePort()}`;
let gateway: GatewayProcess | undefined;
let inspector: Inspector | undefined;
let failed = false;
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  Deno.addSignalListener(signal, async () => {
    // A runtime with an inspector session attached waits for it to end before it exits.
    inspector?.close();
    await gateway?.stop();
    Deno.exit(130);
  });
}
try {
  gateway = await startGateway({
    TASTESYNC_HTTP_PORT: String(port),
    TASTESYNC_KAFKA_BROKERS: cluster.brokers.join(","),
    TASTESYNC_KAFKA_TOPIC: topic,
    TASTESYNC_KAFKA_PARTITIONS: String(PARTITIONS),
    TASTESYNC_KAFKA_REPLICATION_FACTOR: "3",
    TASTESYNC_NATS_URL: cluster.natsUrl,
    TASTESYNC_NATS_SUBJECT_PREFIX: `soak.${topic}`,
    TASTESYNC_DEDUP_WINDOW: values["dedup-window"],
  }, {
    ...(values["gateway-dir"] && { cwd: values["gateway-dir"] }),
    denoFlags: [`--inspect=${inspectAt}`],
  });
  inspector = await Inspector.connect(inspectAt);
  const url = gateway.url;
  let rate = Number(values.rate);
  if (!values.rate) {
    const measured = await measureThroughput(url, Number(values["measure-seconds"]));
    rate = Math.max(1, Math.floor(measured / 2));
    log(`measured ${measured.toFixed(0)} publishes/s at concurrency 64; soaking at ${rate}/s`);
  }

  const subscribers: Churner[] = [];
  for (let i = 0; i < SUBSCRIBERS; i++) subscribers.push(openSubscriber(url, i));
  let next = SUBSCRIBERS;
  const churn = setInterval(() => {
    for (let k = 0; k < CHURN_PER_SECOND; k++) {
      const at = Math.floor(Math.random() * subscribers.length);
      subscribers[at].close();
      subscribers[at] = openSubscriber(url, next++);
    }
  }, 1000);

  const pool = new GatewayPool([url]);
  const load = new PublishLoad({
    pool,
    rate,
    keys: keysPerPartition(PARTITIONS),
    idPrefix: topic,
    client: publishers,
  });
  load.start();

  // Sampled every 5 s: RSS swings by 100 MB and more with V8's garbage collection, so the
  // growth is fitted to every sample after the warm-up, and each minute shows its range. RSS
  // is split into V8's committed heap (live objects and garbage not yet collected), the
  // ArrayBuffers' memory (external) and the rest, the runtime's own (native).
  const samples: Sample[] = [];
  /** Live heap after a full collection, once a minute. */
  const heaps: { minute: number; heapMb: number }[] = [];
  const sample = async (minute: number): Promise<Sample> => {
    const { rssMb, fds } = await usage(gateway!.pid);
    const memory = await inspector!.memoryUsage();
    const heapTotalMb = memory.heapTotal / MB;
    const externalMb = memory.external / MB;
    return {
      minute,
      rssMb,
      fds,
      heapTotalMb,
      externalMb,
      nativeMb: rssMb - heapTotalMb - externalMb,
    };
  };
  const liveHeapMb = async () => await inspector!.liveHeapBytes() / MB;
  const snapshot = async (name: string) => {
    if (!values.snapshots) return;
    await Deno.mkdir(values.snapshots, { recursive: true });
    const path = `${values.snapshots}/${topic}-${name}.heapsnapshot`;
    await inspector!.heapSnapshot(path);
    log(`heap snapshot: ${path}`);
  };
  const line = (cells: (string | number)[]) => console.log(`| ${cells.join(" | ")} |`);
  line([
    "minute",
    "RSS MB",
    "RSS min-max MB",
    "V8 heap MB",
    "external MB",
    "native MB",
    "live heap after GC MB",
    "fds",
    "publishes/s",
    "failed attempts",
    "deliveries/s durable / group / live / SSE",
    "connects",
  ]);
  line(["-------:", ...Array(11).fill("---:")]);
  const first = await sample(0);
  const mb = (n: number) => n.toFixed(1);
  line([
    0,
    mb(first.rssMb),
    "-",
    mb(first.heapTotalMb),
    mb(first.externalMb),
    mb(first.nativeMb),
    mb(await liveHeapMb()),
    first.fds,
    "-",
    "-",
    "-",
    counters.connects,
  ]);
  let created = load.created;
  let deliveries = { ...delivered };
  /** Minutes after the warm-up in which a kind of subscriber got no event at all. */
  const silent: string[] = [];
  const start = performance.now();
  let exited: number | undefined;
  gateway.exited.then((code) => exited = code);
  let failedBefore = 0;
  for (let minute = 1; minute <= MINUTES; minute++) {
    const inMinute: number[] = [];
    let u = first;
    for (let tick = 1; tick <= 12; tick++) {
      const at = start + ((minute - 1) * 12 + tick) * 5000;
      await new Promise((r) => setTimeout(r, at - performance.now()));
      if (exited !== undefined) {
        throw new Error(`the gateway exited by itself with code ${exited} in minute ${minute}`);
      }
      u = await sample(minute - 1 + tick / 12);
      samples.push(u);
      inMinute.push(u.rssMb);
    }
    const live = await liveHeapMb();
    heaps.push({ minute, heapMb: live });
    if (minute === WARMUP) await snapshot("warm");
    const published = (load.created - created) / 60;
    const perSecond = KINDS.map((k) => (delivered[k] - deliveries[k]) / 60);
    if (minute > WARMUP) {
      for (const [i, k] of KINDS.entries()) {
        if (perSecond[i] === 0) silent.push(`${k} in minute ${minute}`);
      }
    }
    created = load.created;
    deliveries = { ...delivered };
    const failedSoFar = [...load.outcomes].filter(([k]) => k !== "202" && k !== "200")
      .reduce((n, [, v]) => n + v, 0);
    const failedInMinute = failedSoFar - failedBefore;
    failedBefore = failedSoFar;
    line([
      minute,
      mb(u.rssMb),
      `${Math.min(...inMinute).toFixed(0)}-${Math.max(...inMinute).toFixed(0)}`,
      mb(u.heapTotalMb),
      mb(u.externalMb),
      mb(u.nativeMb),
      mb(live),
      u.fds,
      published.toFixed(0),
      failedInMinute,
      perSecond.map((n) => n.toFixed(0)).join(" / "),
      counters.connects,
    ]);
  }
  await snapshot("end");
  clearInterval(churn);
  for (const s of subscribers) s.close();
  const unacked = await load.stop(30_000);
  pool.close();
  publishers.close();

  const after = samples.filter((s) => s.minute > WARMUP);
  const growth = (value: (s: Sample) => number) =>
    slope(after.map((s) => s.minute), after.map(value));
  const signed = (n: number) => `${n >= 0 ? "+" : ""}${n.toFixed(2)}`;
  const rssGrowth = growth((s) => s.rssMb);
  const heapsAfter = heaps.filter((h) => h.minute > WARMUP);
  const liveGrowth = slope(heapsAfter.map((h) => h.minute), heapsAfter.map((h) => h.heapMb));
  failed = !(rssGrowth < GOAL_MB_PER_MINUTE) || silent.length > 0;
  console.log();
  if (silent.length > 0) console.log(`subscribers that got no event: ${silent.join(", ")}`);
  console.log(
    `RSS growth after minute ${WARMUP}: ${rssGrowth.toFixed(2)} MB/min ` +
      `(goal < ${GOAL_MB_PER_MINUTE}): ${failed ? "MISS" : "PASS"}; per minute: ` +
      `V8 heap ${signed(growth((s) => s.heapTotalMb))} MB, ` +
      `external ${signed(growth((s) => s.externalMb))} MB, ` +
      `native ${signed(growth((s) => s.nativeMb))} MB, ` +
      `live heap after GC ${signed(liveGrowth)} MB, ` +
      `fds ${signed(growth((s) => s.fds))}; ` +
      `${load.created} events at ${rate}/s, ${unacked.length} never acked, ` +
      `${counters.connects} subscriber connects (${counters.failedConnects} failed)`,
  );
} finally {
  inspector?.close();
  const code = await gateway?.stop();
  if (code !== 0) log(`gateway exited with ${code}`);
  if (gateway) {
    const file = `${options.stateDir}/logs/${topic}-gateway.log`;
    await Deno.mkdir(`${options.stateDir}/logs`, { recursive: true });
    await Deno.writeTextFile(file, gateway.lines.join("\n") + "\n");
    if (code !== 0) log(`last lines of ${file}:\n${gateway.lines.slice(-15).join("\n")}`);
  }
  await cluster.deleteTopic(topic);
  if (startedHere) await cluster.stop();
  else await cluster.close();
  unlock();
}
Deno.exit(failed ? 1 : 0);

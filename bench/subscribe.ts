/**
 * Subscription benchmarks for `deno task bench`: POST-to-WebSocket delivery
 * latency on the durable and live lanes, fan-out to many subscribers, resident
 * memory per idle WebSocket connection, and the replay of a backlog over one
 * WebSocket.
 *
 * Run alone (`deno run -A bench/subscribe.ts`), it measures the backlog replay
 * on the embedded log and prints it against its target.
 */
import { startGateway } from "../testing/harness.ts";
import type { FanOutShare } from "./fan_out_worker.ts";
import { cpuSeconds } from "./interleaved.ts";
import { bodyFor, quantile } from "./wrk.ts";

/** Opens a WebSocket and resolves once its `ready` frame arrives. */
function openSocket(
  url: string,
  query: string,
  onEvent: (data: string) => void,
): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`${url.replace("http", "ws")}/v1/subscribe?${query}`);
    let ready = false;
    ws.onmessage = (e) => {
      if (ready) return onEvent(e.data);
      if (String(e.data).startsWith('{"type":"ready"')) {
        ready = true;
        resolve(ws);
      }
    };
    ws.onerror = () => reject(new Error("WebSocket failed"));
  });
}

/**
 * Seconds of publishing at the rate before {@linkcode deliveryLatency} measures: a fresh gateway's
 * first seconds (JIT, connections, each lane's first transactions) are its slowest, as the table's
 * throughput runs warm up too. In six series of 3 s rounds at 1,000/s (fresh gateways), the first
 * round's durable p99 was the highest in four, 1.6-3.4 times the median of the later rounds.
 */
export const LANES_WARM_UP_SECONDS = 2;

/**
 * Latency from sending the POST to receiving the event on each lane, at `rate` events/s, after
 * {@linkcode LANES_WARM_UP_SECONDS} of warm-up.
 */
export async function deliveryLatency(
  env: Record<string, string>,
  rate: number,
  seconds: number,
): Promise<Record<string, { p50: number; p99: number; received: number; sent: number }>> {
  const gateway = await startGateway(env);
  const sentAt = new Map<string, number>();
  const lanes: Record<string, number[]> = { durable: [], live: [] };
  const record = (lane: string) => (data: string) => {
    const id = data.match(/"event_id":"([^"]+)"/)?.[1];
    const at = id === undefined ? undefined : sentAt.get(id);
    if (at !== undefined) lanes[lane].push(performance.now() - at);
  };
  const sockets = [
    await openSocket(gateway.url, "mode=durable", record("durable")),
    await openSocket(gateway.url, "mode=live", record("live")),
  ];
  try {
    const posts: Promise<void>[] = [];
    const start = performance.now();
    const warmUp = rate * LANES_WARM_UP_SECONDS;
    const total = rate * seconds;
    for (let i = 0; i < warmUp + total; i++) {
      const due = start + (i * 1000) / rate;
      const wait = due - performance.now();
      if (wait > 1) await new Promise((r) => setTimeout(r, wait));
      const id = `lat-${crypto.randomUUID()}`;
      if (i >= warmUp) sentAt.set(id, performance.now());
      posts.push(
        fetch(`${gateway.url}/v1/identifications`, {
          method: "POST",
          headers: { "content-type": "application/json", "idempotency-key": id },
          body: bodyFor(i),
        }).then((r) => r.body?.cancel()),
      );
    }
    await Promise.all(posts);
    const deadline = Date.now() + 10_000;
    while ((lanes.durable.length < total || lanes.live.length < total) && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 50));
    }
    const out: Record<string, { p50: number; p99: number; received: number; sent: number }> = {};
    for (const [lane, values] of Object.entries(lanes)) {
      const sorted = [...values].sort((a, b) => a - b);
      out[lane] = {
        p50: quantile(sorted, 0.5),
        p99: quantile(sorted, 0.99),
        received: values.length,
        sent: total,
      };
    }
    return out;
  } finally {
    sockets.forEach((s) => s.close());
    await gateway.stop();
  }
}

/** Threads that receive the fan-out's deliveries (each counts frames in raw bytes). @default 2 */
const FAN_OUT_CLIENT_THREADS = 2;

/**
 * Deliveries per second from one publisher to `subscribers` durable WebSocket
 * subscribers, and the gateway's CPU meanwhile (1 = one core busy), received by {@linkcode FAN_OUT_CLIENT_THREADS} workers
 * (`bench/fan_out_worker.ts`).
 */
export async function fanOut(
  env: Record<string, string>,
  subscribers: number,
  events: number,
): Promise<{ deliveriesPerSecond: number; seconds: number; gatewayBusy: number }> {
  const gateway = await startGateway(env);
  const workers = Array.from(
    { length: FAN_OUT_CLIENT_THREADS },
    () => new Worker(new URL("./fan_out_worker.ts", import.meta.url), { type: "module" }),
  );
  try {
    const signals = workers.map((worker, i) => {
      const ready = Promise.withResolvers<void>();
      const done = Promise.withResolvers<void>();
      worker.onmessage = ({ data }) => {
        if (data.type === "error") {
          const error = new Error(`fan-out subscriber: ${data.message}`);
          ready.reject(error);
          done.reject(error);
        } else (data.type === "ready" ? ready : done).resolve();
      };
      worker.onerror = (e) => {
        ready.reject(e.error);
        done.reject(e.error);
      };
      const share: FanOutShare = {
        url: gateway.url,
        sockets: Math.floor(subscribers / workers.length) +
          (i < subscribers % workers.length ? 1 : 0),
        want: events,
      };
      worker.postMessage(share);
      return { ready: ready.promise, done: done.promise };
    });
    await Promise.all(signals.map((s) => s.ready));
    const start = performance.now();
    const cpuBefore = await cpuSeconds(gateway.pid);
    for (let i = 0; i < events; i += 500) {
      const batch = Array.from({ length: Math.min(500, events - i) }, (_, j) => ({
        event_type: "CustomerIdentified",
        version: "v1",
        data: JSON.parse(bodyFor(i + j)),
      }));
      const res = await fetch(`${gateway.url}/v1/events/batch`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ events: batch }),
      });
      await res.body?.cancel();
    }
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error("fan-out deliveries did not all arrive")), 120_000);
    });
    await Promise.race([Promise.all(signals.map((s) => s.done)), timeout])
      .finally(() => clearTimeout(timer));
    const seconds = (performance.now() - start) / 1000;
    const gatewayBusy = (await cpuSeconds(gateway.pid) - cpuBefore) / seconds;
    return { deliveriesPerSecond: (subscribers * events) / seconds, seconds, gatewayBusy };
  } finally {
    workers.forEach((w) => w.terminate());
    await gateway.stop();
  }
}

function residentBytes(pid: number): number {
  const status = Deno.readTextFileSync(`/proc/${pid}/status`);
  return Number(status.match(/VmRSS:\s+(\d+) kB/)![1]) * 1024;
}

/** Resident memory the gateway adds per idle WebSocket subscriber, with `connections` open. */
export async function memoryPerConnection(
  env: Record<string, string>,
  connections: number,
): Promise<{ bytesPerConnection: number; connections: number }> {
  const gateway = await startGateway(env);
  const sockets: WebSocket[] = [];
  try {
    sockets.push(await openSocket(gateway.url, "", () => {}));
    const before = residentBytes(gateway.pid);
    for (let i = 1; i < connections; i += 250) {
      sockets.push(
        ...await Promise.all(
          Array.from(
            { length: Math.min(250, connections - i) },
            () => openSocket(gateway.url, "", () => {}),
          ),
        ),
      );
    }
    const after = residentBytes(gateway.pid);
    return {
      bytesPerConnection: (after - before) / (sockets.length - 1),
      connections: sockets.length,
    };
  } finally {
    sockets.forEach((s) => s.close());
    await gateway.stop();
  }
}

/** Target of the backlog replay: events/s over one WebSocket. */
export const REPLAY_TARGET_EVENTS_PER_SECOND = 20_000;

/**
 * Events/s of a `from=earliest` WebSocket replay of `events` events already in
 * the log: from the `ready` frame to the last event.
 */
export async function backlogReplay(
  env: Record<string, string>,
  events: number,
): Promise<{ eventsPerSecond: number; seconds: number; received: number }> {
  // Filling the backlog is set-up, not what is measured: above the default publish rate limit.
  const gateway = await startGateway({
    ...env,
    TASTESYNC_AUTH_LIMITS_PUBLISH_PER_SECOND: String(10 * events),
    TASTESYNC_AUTH_LIMITS_PUBLISH_BURST: String(events),
  });
  try {
    const batches: number[] = [];
    for (let i = 0; i < events; i += 500) batches.push(i);
    // A few batches in flight at once, so filling the log does not take longer than replaying it.
    await Promise.all(Array.from({ length: 4 }, async () => {
      for (let from = batches.shift(); from !== undefined; from = batches.shift()) {
        const batch = Array.from({ length: Math.min(500, events - from) }, (_, j) => ({
          event_type: "CustomerIdentified",
          version: "v1",
          data: JSON.parse(bodyFor(from + j)),
        }));
        const res = await fetch(`${gateway.url}/v1/events/batch`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ events: batch }),
        });
        if (res.status !== 200) throw new Error(`batch answered ${res.status}`);
        await res.body?.cancel();
      }
    }));
    let received = 0;
    const { promise: all, resolve: done } = Promise.withResolvers<void>();
    const { promise: closed, resolve: close } = Promise.withResolvers<CloseEvent>();
    const socket = await openSocket(gateway.url, "from=earliest", () => {
      if (++received === events) done();
    });
    const start = performance.now();
    socket.onclose = close;
    const ended = await Promise.race([all.then(() => undefined), closed]);
    const seconds = (performance.now() - start) / 1000;
    socket.close();
    if (ended) throw new Error(`the replay was closed with ${ended.code} after ${received} events`);
    return { eventsPerSecond: received / seconds, seconds, received };
  } finally {
    await gateway.stop();
  }
}

if (import.meta.main) {
  const events = 100_000;
  const replay = await backlogReplay(
    { TASTESYNC_DATA_DIR: await Deno.makeTempDir({ prefix: "tastesync-bench-" }) },
    events,
  );
  const rate = Math.round(replay.eventsPerSecond).toLocaleString("en-US");
  console.log(
    `replay, ${events.toLocaleString("en-US")}-event backlog over one WebSocket (embedded): ` +
      `${rate} events/s`,
  );
  const pass = replay.eventsPerSecond >= REPLAY_TARGET_EVENTS_PER_SECOND;
  console.log(`${pass ? "PASS" : "MISS"}  backlog replay >= 20,000 events/s: ${rate}`);
}

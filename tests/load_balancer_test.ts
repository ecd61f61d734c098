/**
 * Three gateway processes on the real Kafka broker behind a real nginx,
 * configured with the locations the compose file ships (HTTP, WebSocket, SSE):
 *
 * - a consumer group whose members reach the gateways through nginx lands one
 *   member on each process, and the processes share the partitions;
 * - a retried `event_id` is answered from the log by the other processes (a
 *   duplicate, or a conflict for other content);
 * - publishes through nginx spread over the processes;
 * - `kill -9` of one gateway mid-stream: its WebSocket and SSE clients
 *   reconnect through nginx with their last cursor and miss nothing, see
 *   nothing twice; the group gets every acknowledged event and none whose ack
 *   the gateway confirmed (`acked`) again; the topic holds each event once.
 *
 * Every wait is on a signal: ports, ready frames, metrics, received events.
 */
import assert from "node:assert/strict";
import { DurableSubscriber, GroupLedger, GroupMember } from "../chaos/observers.ts";
import {
  eventIds,
  type GatewayProcess,
  identification,
  KAFKA_BROKERS,
  NATS_URL,
  readTopic,
  startGateway,
  uniqueTopic,
  waitUntil,
} from "../testing/harness.ts";
import { startNginx, UPSTREAM_HEADER } from "../testing/nginx.ts";
import { type Ack, GatewayPool, keysPerPartition, PublishLoad } from "../testing/publish_load.ts";

const PARTITIONS = 6;
const GATEWAYS = 3;
/** New events per second through nginx. */
const RATE = 60;

/** Samples of `metric` in a process's `/metrics`, as `labels -> value`. */
async function samples(gateway: GatewayProcess, metric: string): Promise<Map<string, number>> {
  const res = await fetch(`${gateway.url}/metrics`);
  const text = await res.text();
  assert.equal(res.status, 200, text);
  const found = new Map<string, number>();
  for (
    const [, labels, value] of text.matchAll(new RegExp(`^${metric}\\{([^}]*)\\} (\\S+)$`, "gm"))
  ) {
    found.set(labels, Number(value));
  }
  return found;
}

/** Waits until `condition` resolves true, asking again every 100 ms. */
async function waitFor(condition: () => Promise<boolean>, what: string, timeoutMs = 60_000) {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** The partitions of `group` that `gateway` owns (its consumer-lag gauge). */
async function ownedPartitions(gateway: GatewayProcess, group: string): Promise<number[]> {
  const lag = await samples(gateway, "tastesync_kafka_consumer_lag");
  return [...lag.keys()].filter((l) => l.includes(`group="${group}"`))
    .map((l) => Number(l.match(/partition="(\d+)"/)![1])).sort();
}

/**
 * A group-less SSE subscriber that, when its stream ends, reconnects through
 * `url` with `Last-Event-ID` (its last cursor), as a browser's EventSource does.
 */
class ResumingStream {
  /** Event ids received, with repeats counted. */
  readonly received = new Map<string, number>();
  /** Times the stream ended and was reopened. */
  reconnects = 0;
  readonly #url: string;
  #lastId?: string;
  #controller = new AbortController();
  #closed = false;

  constructor(url: string, topic: string) {
    this.#url = `${url}/v1/stream?topic=${topic}&from=latest`;
  }

  /** Opens the stream and resolves once its `ready` event arrived. */
  async start(): Promise<void> {
    const { promise, resolve, reject } = Promise.withResolvers<void>();
    void this.#run(resolve, reject);
    await promise;
  }

  /** Stops reading and reconnecting. */
  close(): void {
    this.#closed = true;
    this.#controller.abort();
  }

  async #run(ready: () => void, failed: (e: Error) => void): Promise<void> {
    let first = true;
    while (!this.#closed) {
      try {
        await this.#read(() => {
          if (first) ready();
          else this.reconnects++;
          first = false;
        });
      } catch (error) {
        if (first) return failed(error as Error);
      }
      if (!this.#closed) await new Promise((r) => setTimeout(r, 100));
    }
  }

  async #read(onReady: () => void): Promise<void> {
    this.#controller = new AbortController();
    const headers: Record<string, string> = this.#lastId ? { "last-event-id": this.#lastId } : {};
    const res = await fetch(this.#url, { headers, signal: this.#controller.signal });
    if (res.status !== 200) {
      await res.body?.cancel();
      throw new Error(`stream answered ${res.status}`);
    }
    let buffer = "";
    for await (const chunk of res.body!.pipeThrough(new TextDecoderStream())) {
      buffer += chunk;
      let end;
      while ((end = buffer.indexOf("\n\n")) >= 0) {
        const fields = new Map<string, string>();
        for (const line of buffer.slice(0, end).split("\n")) {
          const at = line.indexOf(": ");
          if (at > 0) fields.set(line.slice(0, at), line.slice(at + 2));
        }
        buffer = buffer.slice(end + 2);
        if (fields.get("event") === "ready") onReady();
        else if (fields.has("id") && fields.has("data")) {
          const id = JSON.parse(fields.get("data")!).event_id;
          this.received.set(id, (this.received.get(id) ?? 0) + 1);
          this.#lastId = fields.get("id");
        }
      }
    }
  }
}

/** Asserts `received` holds each of `ids` exactly once and nothing else. */
function assertExactlyOnce(what: string, received: Map<string, number>, ids: string[]): void {
  const missing = ids.filter((id) => !received.has(id));
  const twice = [...received].filter(([, n]) => n > 1).map(([id]) => id);
  const extra = [...received.keys()].filter((id) => !ids.includes(id));
  assert.deepEqual({ missing, twice, extra }, { missing: [], twice: [], extra: [] }, what);
}

Deno.test({
  name: "load balancer: 3 gateways behind nginx share a group, dedup across processes, " +
    "and lose nothing when one is killed mid-stream",
  // A killed gateway leaves sockets behind that are not this test's to close.
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(t) {
    const topic = uniqueTopic("lb");
    const group = `${topic}-group`;
    const env = {
      TASTESYNC_KAFKA_BROKERS: KAFKA_BROKERS,
      TASTESYNC_KAFKA_TOPIC: topic,
      TASTESYNC_KAFKA_PARTITIONS: String(PARTITIONS),
      TASTESYNC_NATS_URL: NATS_URL,
      TASTESYNC_NATS_SUBJECT_PREFIX: `it.${topic.replaceAll("-", "_")}`,
    };
    // The first creates the topic; the others find it.
    const gateways = [await startGateway(env)];
    gateways.push(...await Promise.all([startGateway(env), startGateway(env)]));
    const addresses = gateways.map((g) => new URL(g.url).host);
    const nginx = await startNginx(addresses);
    const pool = new GatewayPool([nginx.url]);
    const ledger = new GroupLedger();
    const members: GroupMember[] = [];
    const sockets: DurableSubscriber[] = [];
    const streams: ResumingStream[] = [];
    const acks = new Map<string, Ack>();
    const load = new PublishLoad({
      pool,
      rate: RATE,
      keys: keysPerPartition(PARTITIONS),
      idPrefix: topic,
      onAck: (a) => acks.set(a.eventId, a),
    });
    let loading = false;
    const victim = gateways[1];
    try {
      await t.step(
        "group members and subscribers through nginx land on different processes",
        async () => {
          // nginx hands consecutive connections to the gateways in turn: one of each kind per process.
          for (let i = 0; i < GATEWAYS; i++) {
            const member = new GroupMember(() => nginx.url, topic, group, ledger);
            await member.start();
            members.push(member);
          }
          for (let i = 0; i < GATEWAYS; i++) {
            const socket = new DurableSubscriber(pool, topic, PARTITIONS);
            await socket.start(0);
            sockets.push(socket);
          }
          for (let i = 0; i < GATEWAYS; i++) {
            const stream = new ResumingStream(nginx.url, topic);
            await stream.start();
            streams.push(stream);
          }
          for (const gateway of gateways) {
            const open = await samples(gateway, "tastesync_subscribers");
            assert.equal(
              open.get('mode="durable",transport="websocket"'),
              2,
              `${gateway.url}: a member and a socket`,
            );
            assert.equal(open.get('mode="durable",transport="sse"'), 1, `${gateway.url}: a stream`);
          }
        },
      );

      const retried = identification({ event_id: `${topic}-retried`, customer_id: "cust-retry" });
      await t.step(
        "a retried event_id is answered from the log by the other processes",
        async () => {
          const first = await fetch(`${nginx.url}/v1/identifications`, {
            method: "POST",
            headers: { "content-type": "application/json" },
            body: JSON.stringify(retried),
          });
          const stored = await first.json();
          assert.equal(first.status, 202, JSON.stringify(stored));
          // Every process has read the record once each of its subscribers got it.
          await waitUntil(
            () => sockets.every((s) => s.received.has(retried.event_id as string)),
            "every process delivered the event",
          );
          const again = await fetch(`${nginx.url}/v1/identifications`, {
            method: "POST",
            headers: { "content-type": "application/json" },
            body: JSON.stringify(retried),
          });
          const duplicate = await again.json();
          assert.equal(again.status, 200, JSON.stringify(duplicate));
          assert.deepEqual(
            { ...duplicate, duplicate: false },
            stored,
            "the original partition and offset",
          );
          assert.equal(duplicate.duplicate, true);
          const changed = await fetch(`${nginx.url}/v1/identifications`, {
            method: "POST",
            headers: { "content-type": "application/json" },
            body: JSON.stringify({ ...retried, confidence: 0.5 }),
          });
          await changed.body?.cancel();
          assert.equal(changed.status, 409);
          const servedBy = [first, again, changed].map((r) => r.headers.get(UPSTREAM_HEADER));
          assert.equal(
            new Set(servedBy).size,
            GATEWAYS,
            `each answered by another process: ${servedBy}`,
          );
        },
      );

      await t.step(
        "publishes through nginx spread over the processes, which share the group's partitions",
        async () => {
          load.start();
          loading = true;
          await waitUntil(
            () => acks.size > 2 * RATE && ledger.received.size > RATE,
            "two seconds of traffic reached the group",
            30_000,
          );
          for (const gateway of gateways) {
            const published = await samples(gateway, "tastesync_events_published_total");
            const accepted = [...published].filter(([l]) => l.includes('result="accepted"'))
              .reduce((sum, [, n]) => sum + n, 0);
            assert.ok(accepted > 0, `${gateway.url} stored none of the publishes`);
          }
          // Each process reports the partitions it owns (their committed offsets) once acks flow.
          await waitFor(async () => {
            const owned = await Promise.all(gateways.map((g) => ownedPartitions(g, group)));
            const all = owned.flat();
            return owned.every((p) => p.length > 0) && all.length === PARTITIONS &&
              new Set(all).size === PARTITIONS;
          }, "the three processes own all partitions of the group between them, none twice");
          const posts = (await nginx.accessLog()).filter((l) => l.startsWith("POST "));
          for (const address of addresses) {
            assert.ok(
              posts.some((l) => l.endsWith(` ${address}`)),
              `nginx never sent a publish to ${address}`,
            );
          }
        },
      );

      await t.step(
        "kill -9 of a gateway mid-stream: its clients reconnect through nginx and resume",
        async () => {
          const before = acks.size;
          assert.equal(await victim.stop("SIGKILL"), 137);
          await waitUntil(
            () =>
              members.some((m) => m.reconnects > 0) && sockets.some((s) => s.reconnects > 0) &&
              streams.some((s) => s.reconnects > 0),
            "the killed gateway's member, socket and stream reconnected through nginx",
            60_000,
          );
          await waitUntil(() => acks.size > before + 2 * RATE, "traffic goes on", 60_000);
          loading = false;
          const unacked = await load.stop(60_000);
          assert.deepEqual(unacked, [], "every event was acknowledged in the end");
          for (const kind of [members, sockets, streams]) {
            assert.deepEqual(
              kind.map((c) => c.reconnects).sort(),
              [0, 0, 1],
              "one client of each kind was on it",
            );
          }
        },
      );

      await t.step(
        "no subscriber missed or repeated an event; the group lost none and repeated no confirmed ack",
        async () => {
          const acked = [...acks.keys(), retried.event_id as string];
          await waitUntil(
            () =>
              [...sockets, ...streams].every((s) => acked.every((id) => s.received.has(id))) &&
              acked.every((id) => ledger.received.has(id)),
            "every subscriber and the group received every acknowledged event",
            60_000,
          );
          sockets.forEach((s, i) => {
            assertExactlyOnce(`WebSocket subscriber ${i}`, s.received, acked);
            assert.equal(s.rewinds, 0, s.rewindSamples.join(", "));
          });
          streams.forEach((s, i) => assertExactlyOnce(`SSE subscriber ${i}`, s.received, acked));
          assert.deepEqual(
            [...ledger.redeliveredAfterAck],
            [],
            "events delivered to the group again after their ack was confirmed",
          );
          assert.ok(ledger.acked.size > 0, "acks were confirmed");
          const records = await readTopic(topic, (m) => m.length >= acked.length, 60_000);
          const ids = eventIds(records);
          assert.equal(new Set(ids).size, ids.length, "an event stored twice");
          assert.deepEqual([...ids].sort(), [...acked].sort());
          console.log(
            `${acked.length} events; group: ${ledger.deliveries} deliveries, ${ledger.acked.size} ` +
              `acks confirmed, ${ledger.redeliveredInDoubt()} unconfirmed acks redelivered`,
          );
        },
      );
    } finally {
      if (loading) await load.stop(0).catch(() => {});
      pool.close();
      for (const client of [...members, ...sockets, ...streams]) client.close();
      await nginx.stop();
      await Promise.all(gateways.map((g) => g.stop()));
    }
  },
});

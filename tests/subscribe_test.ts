/**
 * Subscriptions end to end, on both backends: the embedded log and a real
 * Kafka broker, with the live lane on a real nats-server (Kafka) or the
 * in-process bus (embedded).
 */
import assert from "node:assert/strict";
import { BACKENDS } from "../testing/backends.ts";
import {
  type Frame,
  type GatewayProcess,
  identification,
  startGateway,
  subscribeSse,
  subscribeWs,
  uniqueTopic,
  waitUntil,
} from "../testing/harness.ts";
import { encodeCursor } from "../src/subscribe/cursor.ts";

/** A cursor's JSON, as a client could read it (cursors are opaque, but tests may look). */
const decode = (cursor: string) =>
  JSON.parse(atob(cursor.replaceAll("-", "+").replaceAll("_", "/")));

/** Posts identifications for `customers` (one each) and returns their event ids. */
async function publish(
  gateway: GatewayProcess,
  customers: string[],
  extra: Record<string, unknown> = {},
) {
  const ids: string[] = [];
  for (const customer_id of customers) {
    const res = await gateway.post(
      "/v1/identifications",
      identification({ customer_id, ...extra }),
    );
    const body = await res.json();
    assert.equal(res.status, 202, JSON.stringify(body));
    ids.push(body.event_id);
  }
  return ids;
}

const ids = (frames: Frame[]) => frames.map((f) => ("data" in f ? f.data : f.event).event_id);
/** Order holds within a partition only, so sequences across customers compare as sets. */
const sorted = (values: string[]) => [...values].sort();

for (const backend of BACKENDS) {
  const test = (name: string, fn: (env: Record<string, string>) => Promise<void>) =>
    Deno.test(`${backend.name}: ${name}`, async () => fn(await backend.env()));

  test("WebSocket and SSE deliver in both modes, after ready", async (env) => {
    const gateway = await startGateway(env);
    try {
      const durable = await subscribeWs(gateway.url);
      const live = await subscribeWs(gateway.url, "mode=live");
      const stream = await subscribeSse(gateway.url);
      const liveStream = await subscribeSse(gateway.url, "mode=live");
      assert.equal(stream.ready.mode, "durable");
      assert.ok(typeof stream.ready.cursor === "string");
      const sent = await publish(gateway, ["a1", "a2", "a3"]);

      const frames = await durable.events(3);
      assert.deepEqual(sorted(ids(frames)), sorted(sent));
      for (const f of frames) assert.equal(typeof f.cursor, "string");
      assert.equal(frames[0].event.event_type, "CustomerIdentified");
      assert.deepEqual(frames[0].event.data, identification({ customer_id: "a1" }));
      assert.deepEqual(ids(await live.events(3)), sent);
      const events = await stream.events(3);
      assert.deepEqual(ids(events), ids(frames));
      assert.equal(events[0].event, "CustomerIdentified");
      assert.equal(events[0].id, frames[0].cursor);
      assert.equal(stream.retry, 2000);
      assert.deepEqual(ids(await liveStream.events(3)), sent);
      await Promise.all([durable.close(), live.close(), stream.close(), liveStream.close()]);
    } finally {
      await gateway.stop();
    }
  });

  test("filters and from=earliest replay", async (env) => {
    const gateway = await startGateway(env);
    try {
      const before = await publish(gateway, ["r1", "r2"]);
      const replay = await subscribeWs(gateway.url, "from=earliest");
      assert.deepEqual(sorted(ids(await replay.events(2))), sorted(before));
      const table = await subscribeWs(gateway.url, "location=Table%209&min_confidence=0.5");
      const customer = await subscribeSse(gateway.url, "customer_id=f2");
      await publish(gateway, ["f1"], { location: "Table 9", confidence: 0.4 });
      const [hit] = await publish(gateway, ["f2"], { location: "Table 9", confidence: 0.6 });
      await publish(gateway, ["f3"], { location: "Bar" });
      assert.deepEqual(ids(await table.events(1)), [hit]);
      assert.deepEqual(ids(await customer.events(1)), [hit]);
      // The replaying socket saw all three after the first two: filters are per subscriber.
      assert.equal((await replay.events(3)).length, 3);
      assert.deepEqual(table.drain(), []);
      await Promise.all([replay.close(), table.close(), customer.close()]);
    } finally {
      await gateway.stop();
    }
  });

  test("resume by cursor and by Last-Event-ID delivers every later event, none missing", async (env) => {
    const gateway = await startGateway(env);
    try {
      const ws = await subscribeWs(gateway.url);
      const sse = await subscribeSse(gateway.url);
      const first = await publish(gateway, ["m1", "m2", "m3"]);
      const got = await ws.events(3);
      const streamed = await sse.events(3);
      await ws.close();
      await sse.close();
      const later = await publish(gateway, ["m4", "m5", "m6", "m7"]);
      const resumed = await subscribeWs(gateway.url, `from=${got[1].cursor}`);
      assert.deepEqual(sorted(ids(await resumed.events(5))), sorted([first[2], ...later]));
      const restream = await subscribeSse(gateway.url, "", { "last-event-id": streamed[2].id! });
      assert.deepEqual(sorted(ids(await restream.events(4))), sorted(later));
      await resumed.close();
      await restream.close();
    } finally {
      await gateway.stop();
    }
  });

  test("a group splits partitions; unacked events move on close; acked ones never return", async (env) => {
    const gateway = await startGateway({ ...env, TASTESYNC_SUBSCRIPTIONS_ACK_TIMEOUT: "60s" });
    try {
      const group = uniqueTopic("notify");
      const a = await subscribeWs(gateway.url, `group=${group}`);
      const b = await subscribeWs(gateway.url, `group=${group}`);
      const customers = Array.from({ length: 30 }, (_, i) => `g${i}`);
      const sent = await publish(gateway, customers);
      await waitUntil(
        () => a.seen.length + b.seen.length >= sent.length,
        "every event reached a member",
      );
      const fromA = a.drain();
      const fromB = b.drain();
      assert.deepEqual(
        sorted(ids([...fromA, ...fromB])),
        sorted(sent),
        "each event went to exactly one member",
      );
      assert.ok(fromA.length > 0 && fromB.length > 0, `split ${fromA.length}/${fromB.length}`);
      const partitions = (fs: Frame[]) =>
        new Set(fs.map((f) => Object.keys(decode(f.cursor).o)[0]));
      const both = [...partitions(fromA)].filter((p) => partitions(fromB).has(p));
      assert.deepEqual(both, [], "a partition went to both members");

      // a acks all it got; b acks nothing and leaves: b's events go to a, a's never come back.
      for (const f of fromA) a.send({ type: "ack", cursor: f.cursor });
      // Each ack is confirmed once committed, with the cursor it named.
      await waitUntil(() => a.acked.length >= fromA.length, "every ack was confirmed");
      assert.deepEqual(sorted(a.acked), sorted(fromA.map((f) => f.cursor as string)));
      await b.close();
      const moved = await a.events(fromB.length);
      assert.deepEqual(new Set(ids(moved)), new Set(ids(fromB)));
      for (const f of moved) a.send({ type: "ack", cursor: f.cursor });
      const [after] = await publish(gateway, ["g-after"]);
      assert.deepEqual(ids(await a.events(1)), [after]);
      assert.deepEqual(a.drain(), []);
      await a.close();
    } finally {
      await gateway.stop();
    }
  });

  test("an event not acked within the ack timeout goes to another member", async (env) => {
    const gateway = await startGateway({ ...env, TASTESYNC_SUBSCRIPTIONS_ACK_TIMEOUT: "500ms" });
    try {
      const a = await subscribeWs(gateway.url, `group=${uniqueTopic("g")}`);
      const [id] = await publish(gateway, ["t1"]);
      const [first] = await a.events(1);
      assert.equal(first.event.event_id, id);
      // With one member, the redelivery comes back to it.
      const [again] = await a.events(1, 10_000);
      assert.equal(again.event.event_id, id);
      a.send({ type: "ack", cursor: again.cursor });
      await a.close();
    } finally {
      await gateway.stop();
    }
  });

  test("bad subscriptions get 400 before the upgrade, bad frames an error frame and a close", async (env) => {
    const gateway = await startGateway(env);
    try {
      for (
        const query of ["nope=1", "from=not-a-cursor", "mode=live&group=g", "min_confidence=7"]
      ) {
        const res = await fetch(`${gateway.url}/v1/subscribe?${query}`, {
          headers: { upgrade: "websocket" },
        });
        assert.equal(res.status, 400, query);
        assert.equal(res.headers.get("content-type"), "application/problem+json");
        await res.body?.cancel();
        const sse = await fetch(`${gateway.url}/v1/stream?${query}`);
        assert.equal(sse.status, 400, query);
        await sse.body?.cancel();
      }
      const bystander = await subscribeWs(gateway.url);
      for (
        const [frame, code] of [
          ["{not json", 4400],
          [{ type: "nope" }, 4400],
          [{ type: "ack", cursor: "garbage" }, 4400],
          ["x".repeat(10_000), 1009],
        ] as const
      ) {
        const ws = await subscribeWs(gateway.url, `group=${uniqueTopic("g")}`);
        ws.send(frame);
        const error = await ws.next();
        assert.equal(error.type, "error");
        assert.equal((await ws.closed).code, code);
      }
      const ws = await subscribeWs(gateway.url, `group=${uniqueTopic("g")}`);
      const [id] = await publish(gateway, ["n1"]);
      const [frame] = await ws.events(1);
      const { t, o } = decode(frame.cursor);
      const beyond = new Map(
        Object.entries(o).map(([p, next]) => [Number(p), BigInt(next as string) + 100n]),
      );
      ws.send({ type: "ack", cursor: encodeCursor({ topic: t, next: beyond }) });
      assert.match((await ws.next()).detail, /never sent/);
      assert.equal((await ws.closed).code, 4400);
      // Nothing else was affected.
      assert.deepEqual(ids(await bystander.events(1)), [id]);
      await bystander.close();
    } finally {
      await gateway.stop();
    }
  });

  test("a gateway restarted mid-stream loses nothing acknowledged", async (env) => {
    let gateway = await startGateway(env);
    const acked: string[] = [];
    const seen = new Set<string>();
    let cursor: string;
    try {
      const ws = await subscribeWs(gateway.url);
      acked.push(...await publish(gateway, ["x1", "x2", "x3"]));
      const frames = await ws.events(3);
      frames.forEach((f) => seen.add(f.event.event_id));
      cursor = frames[2].cursor;
      const stopping = gateway.stop();
      assert.equal((await ws.closed).code, 1001);
      assert.equal(await stopping, 0);
    } catch (error) {
      await gateway.stop();
      throw error;
    }
    gateway = await startGateway(env);
    try {
      acked.push(...await publish(gateway, ["x4", "x5"]));
      const ws = await subscribeWs(gateway.url, `from=${cursor}`);
      acked.push(...await publish(gateway, ["x6"]));
      (await ws.events(3)).forEach((f) => seen.add(f.event.event_id));
      assert.deepEqual([...seen].sort(), [...acked].sort());
      await ws.close();
    } finally {
      await gateway.stop();
    }
  });
}

Deno.test("kafka: two gateway processes share one group", async () => {
  const env = await BACKENDS[1].env();
  const one = await startGateway(env);
  const two = await startGateway(env);
  try {
    const group = uniqueTopic("shared");
    const a = await subscribeWs(one.url, `group=${group}`);
    const b = await subscribeWs(two.url, `group=${group}`);
    const sent = await publish(one, Array.from({ length: 30 }, (_, i) => `p${i}`));
    await waitUntil(
      () => a.seen.length + b.seen.length >= sent.length,
      "every event reached a member",
    );
    assert.deepEqual(
      sorted(ids([...a.seen, ...b.seen])),
      sorted(sent),
      "each event went to exactly one process",
    );
    assert.ok(a.seen.length > 0 && b.seen.length > 0, `split ${a.seen.length}/${b.seen.length}`);
    await Promise.all([a.close(), b.close()]);
  } finally {
    await Promise.all([one.stop(), two.stop()]);
  }
});

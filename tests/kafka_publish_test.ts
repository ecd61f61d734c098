/**
 * The publish path against a real Apache Kafka broker and a real nats-server
 * (started by `deploy/local/services.sh`).
 */
import assert from "node:assert/strict";
import { Producer, stringSerializers } from "@platformatic/kafka";
import { partitionFor } from "../src/log/partitioner.ts";
import {
  assertProblem,
  eventIds,
  identification,
  KAFKA_BROKERS,
  NATS_URL,
  natsClient,
  readTopic,
  services,
  startGateway,
  uniqueTopic,
  waitReady,
} from "../testing/harness.ts";
import { waitFor } from "../testing/wait.ts";

const kafkaEnv = (topic: string) => ({
  TASTESYNC_KAFKA_BROKERS: KAFKA_BROKERS,
  TASTESYNC_KAFKA_TOPIC: topic,
  TASTESYNC_NATS_URL: NATS_URL,
  TASTESYNC_NATS_SUBJECT_PREFIX: `it.${topic.replaceAll("-", "_")}`,
});

Deno.test("kafka: a posted identification is in the topic with its key, partition and envelope", async () => {
  const topic = uniqueTopic();
  const gateway = await startGateway(kafkaEnv(topic));
  try {
    const res = await gateway.post("/v1/identifications", identification(), {
      "idempotency-key": "visit-1",
    });
    assert.equal(res.status, 202);
    const ack = await res.json();
    assert.equal(ack.topic, topic);
    assert.equal(ack.partition, partitionFor("cust123", 3));
    assert.equal(ack.duplicate, false);

    const [record] = await readTopic(topic, (m) => m.length >= 1);
    assert.equal(record.key?.toString(), "cust123");
    assert.equal(record.partition, ack.partition);
    assert.equal(record.offset, ack.offset);
    const envelope = JSON.parse(record.value!.toString());
    assert.deepEqual(Object.keys(envelope).sort(), [
      "data",
      "event_id",
      "event_type",
      "timestamp",
      "version",
    ]);
    assert.equal(envelope.event_id, "visit-1");
    assert.equal(envelope.event_type, "CustomerIdentified");
    assert.equal(envelope.version, "v1");
    assert.deepEqual(envelope.data, identification());
    assert.equal(record.headers?.["tastesync-event-id"]?.toString(), "visit-1");
  } finally {
    await gateway.stop();
  }
});

Deno.test("kafka: one record per event id, 409 on conflicting reuse, dedup survives a restart", async () => {
  const topic = uniqueTopic();
  const env = kafkaEnv(topic);
  let gateway = await startGateway(env);
  let first;
  try {
    first = await (await gateway.post("/v1/identifications", identification({ event_id: "dup-1" })))
      .json();
    const again = await gateway.post("/v1/identifications", identification({ event_id: "dup-1" }));
    assert.equal(again.status, 200);
    assert.deepEqual(await again.json(), { ...first, duplicate: true });
    await assertProblem(
      await gateway.post(
        "/v1/identifications",
        identification({ event_id: "dup-1", location: "Bar" }),
      ),
      409,
    );
  } finally {
    await gateway.stop();
  }
  gateway = await startGateway(env);
  try {
    const afterRestart = await gateway.post(
      "/v1/identifications",
      identification({ event_id: "dup-1" }),
    );
    assert.equal(afterRestart.status, 200);
    assert.deepEqual(await afterRestart.json(), { ...first, duplicate: true });
    assert.equal(
      (await gateway.post("/v1/identifications", identification({ event_id: "marker" }))).status,
      202,
    );
    const records = await readTopic(topic, (m) => eventIds(m).includes("marker"));
    assert.deepEqual(eventIds(records).sort(), ["dup-1", "marker"]);
  } finally {
    await gateway.stop();
  }
});

Deno.test("kafka: each bad-input class gets its problem and writes nothing", async () => {
  const topic = uniqueTopic();
  const gateway = await startGateway({
    ...kafkaEnv(topic),
    TASTESYNC_HTTP_BODY_LIMIT_BYTES: "2048",
  });
  try {
    await assertProblem(await gateway.post("/v1/identifications", '{"customer_id": '), 400);
    const invalid = await assertProblem(
      await gateway.post("/v1/identifications", identification({ confidence: -0.1, beacon: {} })),
      422,
    );
    assert.ok((invalid.errors as unknown[]).length >= 5);
    await assertProblem(
      await gateway.post("/v1/identifications", identification({ location: "x".repeat(4096) })),
      413,
    );
    const chunked = await fetch(`${gateway.url}/v1/identifications`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: ReadableStream.from([new TextEncoder().encode(`{"location":"${"y".repeat(8192)}"}`)]),
    });
    await assertProblem(chunked, 413);
    await assertProblem(
      await gateway.post("/v1/identifications", "customer_id=1", {
        "content-type": "application/x-www-form-urlencoded",
      }),
      415,
    );
    await assertProblem(
      await gateway.post("/v1/events", { event_type: "Unknown", version: 1, data: {} }),
      422,
    );
    assert.equal(
      (await gateway.post("/v1/identifications", identification({ event_id: "marker" }))).status,
      202,
    );
    const records = await readTopic(topic, (m) => eventIds(m).includes("marker"));
    assert.deepEqual(eventIds(records), ["marker"]);
    assert.equal((await fetch(`${gateway.url}/healthz`)).status, 200);
  } finally {
    await gateway.stop();
  }
});

Deno.test("kafka: a NATS subscriber receives the mirrored envelope with Nats-Msg-Id", async () => {
  const topic = uniqueTopic();
  const env = kafkaEnv(topic);
  const nc = await natsClient();
  const sub = nc.subscribe(`${env.TASTESYNC_NATS_SUBJECT_PREFIX}.>`, { max: 1 });
  await nc.flush();
  const gateway = await startGateway(env);
  try {
    await waitReady(gateway.url, "ready");
    const res = await gateway.post("/v1/identifications", identification({ event_id: "mirror-1" }));
    assert.equal(res.status, 202);
    for await (const msg of sub) {
      assert.equal(msg.subject, `${env.TASTESYNC_NATS_SUBJECT_PREFIX}.customer_identified`);
      assert.equal(msg.headers?.get("Nats-Msg-Id"), "mirror-1");
      const envelope = msg.json<{ event_id: string; data: unknown }>();
      assert.equal(envelope.event_id, "mirror-1");
      assert.deepEqual(envelope.data, identification());
    }
    assert.equal(sub.getProcessed(), 1);
  } finally {
    await gateway.stop();
    await nc.close();
  }
});

Deno.test("kafka: NATS stopped, publishes still succeed and readiness is degraded until it is back", async () => {
  const topic = uniqueTopic();
  const gateway = await startGateway(kafkaEnv(topic));
  try {
    await services("stop-nats");
    const degraded = await waitReady(gateway.url, "degraded");
    assert.equal(degraded.components.bus.status, "down");
    const started = performance.now();
    const res = await gateway.post("/v1/identifications", identification({ event_id: "no-nats" }));
    assert.equal(res.status, 202);
    await res.body?.cancel();
    assert.ok(performance.now() - started < 5000);
    await services("start-nats");
    // The client reconnects by itself and readiness recovers.
    const ready = await waitReady(gateway.url, "ready", 30_000);
    assert.equal(ready.components.bus.status, "up");
  } finally {
    await services("start-nats");
    await gateway.stop();
  }
});

Deno.test("kafka: broker stopped gives 503 with Retry-After and unready; recovery writes each id once", async () => {
  const topic = uniqueTopic();
  const gateway = await startGateway(kafkaEnv(topic));
  const failed: string[] = [];
  try {
    assert.equal(
      (await gateway.post("/v1/identifications", identification({ event_id: "before" }))).status,
      202,
    );
    await services("stop-kafka");
    for (let i = 0; i < 3; i++) {
      const res = await gateway.post(
        "/v1/identifications",
        identification({ event_id: `during-${i}` }),
      );
      assert.equal(res.headers.get("retry-after"), "1");
      await assertProblem(res, 503);
      failed.push(`during-${i}`);
    }
    const down = await waitReady(gateway.url, "unavailable");
    assert.deepEqual(down.components.log, {
      backend: "kafka",
      status: "down",
    });
  } finally {
    await services("start-kafka");
  }
  try {
    await waitReady(gateway.url, "ready-or-degraded", 120_000);
    for (const id of failed) {
      // Retrying a 503 is safe: it is written once, or found as already written.
      const res = await gateway.post("/v1/identifications", identification({ event_id: id }));
      assert.ok([200, 202].includes(res.status), `retry of ${id}: ${res.status}`);
      await res.body?.cancel();
    }
    assert.equal(
      (await gateway.post("/v1/identifications", identification({ event_id: "after" }))).status,
      202,
    );
    const records = await readTopic(topic, (m) => eventIds(m).includes("after"));
    assert.deepEqual(eventIds(records).sort(), ["after", "before", ...failed].sort());
  } finally {
    await gateway.stop();
  }
});

Deno.test("kafka: after a restart every id of every partition is a duplicate at its first place", async () => {
  const env = kafkaEnv(uniqueTopic());
  const body = (i: number) => identification({ event_id: `r-${i}`, customer_id: `c${i}` });
  let gateway = await startGateway(env);
  const first = new Map<number, Record<string, unknown>>();
  try {
    for (let i = 0; i < 60; i++) {
      const res = await gateway.post("/v1/identifications", body(i));
      assert.equal(res.status, 202);
      first.set(i, await res.json());
    }
  } finally {
    await gateway.stop();
  }
  assert.equal(new Set([...first.values()].map((ack) => ack.partition)).size, 3);
  gateway = await startGateway(env);
  try {
    for (const [i, ack] of first) {
      const res = await gateway.post("/v1/identifications", body(i));
      assert.equal(res.status, 200);
      assert.deepEqual(await res.json(), { ...ack, duplicate: true });
    }
    await assertProblem(
      await gateway.post("/v1/identifications", { ...body(7), location: "Elsewhere" }),
      409,
    );
  } finally {
    await gateway.stop();
  }
});

Deno.test("kafka: an id in another writer's open transaction is held until it ends; written once either way", async () => {
  const topic = uniqueTopic();
  const gateway = await startGateway({
    ...kafkaEnv(topic),
    TASTESYNC_KAFKA_PUBLISH_TIMEOUT_MS: "1500",
  });
  const bootstrapBrokers = KAFKA_BROKERS.split(",");
  // Another gateway whose commit is not confirmed yet: its transaction stays open.
  const other = new Producer({
    clientId: "it-open-transaction",
    bootstrapBrokers,
    idempotent: true,
    acks: -1,
    transactionalId: `it-${topic}`,
    producerId: -1n,
    producerEpoch: -1,
    serializers: stringSerializers,
  });
  const plain = new Producer({
    clientId: "it-sentinel",
    bootstrapBrokers,
    serializers: stringSerializers,
  });
  const record = (id: string, print: string) => ({
    topic,
    partition: 0,
    key: "k",
    value: JSON.stringify({ event_id: id }),
    headers: { "tastesync-event-id": id, "tastesync-fingerprint": print },
  });
  const post = (id: string) =>
    gateway.post("/v1/identifications", identification({ event_id: id }));
  try {
    for (const end of ["commit", "abort"] as const) {
      const id = `held-${end}`;
      const transaction = await other.beginTransaction();
      await transaction.send({ messages: [record(id, "other-content")] });
      // Committed records after it: once the gateway knows one, its tail has read past ours. A
      // sentinel posted before the tail read it is written by the gateway, and then is its own;
      // so each try posts the one written a try earlier, and writes the next.
      let sentinel = 0;
      const writeSentinel = () =>
        plain.send({ messages: [record(`sentinel-${end}-${sentinel}`, "other-content")] });
      await writeSentinel();
      await waitFor(async () => {
        const res = await post(`sentinel-${end}-${sentinel++}`);
        await res.body?.cancel();
        if (res.status !== 409) await writeSentinel();
        return res.status === 409;
      }, "the tail read a sentinel");
      const held = await post(id);
      assert.equal(held.status, 503, `${end}: the id waits for the open transaction`);
      await held.body?.cancel();
      await (end === "commit" ? transaction.commit() : transaction.abort());
      const after = await post(id);
      // Committed: the id is taken (by other content here). Aborted: it was never written.
      assert.equal(after.status, end === "commit" ? 409 : 202, `${end}: ${await after.text()}`);
    }
    const records = await readTopic(topic, (m) => {
      const ids = eventIds(m);
      return ids.includes("held-abort") && ids.includes("held-commit");
    });
    assert.deepEqual(eventIds(records).filter((id) => id.startsWith("held-")).sort(), [
      "held-abort",
      "held-commit",
    ]);
  } finally {
    await Promise.allSettled([other.close(true), plain.close(true)]);
    await gateway.stop();
  }
});

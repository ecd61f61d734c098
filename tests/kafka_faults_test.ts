/**
 * The Kafka write and read paths under broker faults, on the single broker
 * of `deploy/local/services.sh`: a hung broker (SIGSTOP) and a crashed one
 * (kill -9). What is asserted is read back with an independent client
 * (kafkajs in the test harness).
 */
import assert from "node:assert/strict";
import {
  eventIds,
  identification,
  KAFKA_BROKERS,
  readTopic,
  services,
  startGateway,
  subscribeSse,
  subscribeWs,
  uniqueTopic,
  waitReady,
  waitUntil,
} from "../testing/harness.ts";

/** The publish deadline the tests set: short, so a hung broker is noticed quickly. */
const PUBLISH_TIMEOUT_MS = 1500;
/** What the answer may take beyond the deadline: the event loop and HTTP, not Kafka. */
const ANSWER_SLACK_MS = 1000;

const kafkaEnv = (topic: string) => ({
  TASTESYNC_KAFKA_BROKERS: KAFKA_BROKERS,
  TASTESYNC_KAFKA_TOPIC: topic,
  TASTESYNC_KAFKA_PUBLISH_TIMEOUT_MS: String(PUBLISH_TIMEOUT_MS),
});

Deno.test("kafka: with the broker hung, every publish is answered by the deadline; retries write each event once", async () => {
  const topic = uniqueTopic("hung");
  const gateway = await startGateway(kafkaEnv(topic));
  const ids = Array.from({ length: 8 }, (_, i) => `hung-${i}`);
  try {
    assert.equal(
      (await gateway.post("/v1/identifications", identification({ event_id: "pre" })))
        .status,
      202,
    );
    await services("sigstop", "--node", "1");
    try {
      const answers = await Promise.all(ids.map(async (id, i) => {
        const started = performance.now();
        const res = await gateway.post(
          "/v1/identifications",
          identification({ event_id: id, customer_id: `c${i}` }),
        );
        await res.body?.cancel();
        return {
          status: res.status,
          retryAfter: res.headers.get("retry-after"),
          ms: performance.now() - started,
        };
      }));
      for (const a of answers) {
        assert.equal(a.status, 503);
        assert.equal(a.retryAfter, "1");
        assert.ok(
          a.ms <= PUBLISH_TIMEOUT_MS + ANSWER_SLACK_MS,
          `answered after ${Math.round(a.ms)} ms, past the ${PUBLISH_TIMEOUT_MS} ms deadline`,
        );
      }
    } finally {
      await services("sigcont", "--node", "1");
    }
    await waitReady(gateway.url, "ready-or-degraded", 60_000);
    for (const [i, id] of ids.entries()) {
      // A retry after a 503 is safe: written once, or found as written before.
      let status = 503;
      for (let attempt = 0; status === 503 && attempt < 20; attempt++) {
        const res = await gateway.post(
          "/v1/identifications",
          identification({ event_id: id, customer_id: `c${i}` }),
        );
        status = res.status;
        await res.body?.cancel();
      }
      assert.ok([200, 202].includes(status), `retry of ${id}: ${status}`);
    }
    const records = await readTopic(topic, (m) => ids.every((id) => eventIds(m).includes(id)));
    const counts = new Map<string, number>();
    for (const id of eventIds(records)) counts.set(id, (counts.get(id) ?? 0) + 1);
    assert.deepEqual([...counts].filter(([, n]) => n > 1), [], "no event is written twice");
  } finally {
    await gateway.stop();
  }
});

Deno.test("kafka: a durable subscriber neither rewinds nor stalls across a broker kill -9", async () => {
  const topic = uniqueTopic("kill");
  const gateway = await startGateway(kafkaEnv(topic));
  const stream = await subscribeSse(gateway.url);
  const publish = async (prefix: string, n: number) => {
    for (let i = 0; i < n; i++) {
      let status = 503;
      while (status === 503) {
        const res = await gateway.post(
          "/v1/identifications",
          identification({ event_id: `${prefix}-${i}`, customer_id: `c${i}` }),
        );
        status = res.status;
        await res.body?.cancel();
      }
      assert.equal(status, 202);
    }
  };
  try {
    await publish("before", 20);
    const before = await stream.events(20);
    await services("kill9", "--node", "1");
    await services("start-kafka", "--node", "1");
    await waitReady(gateway.url, "ready-or-degraded", 60_000);
    await publish("after", 20);
    const after = await stream.events(20, 60_000);
    const got = [...before, ...after].map((e) => e.data.event_id);
    assert.equal(new Set(got).size, 40, "no event is delivered twice");
    assert.deepEqual(
      after.map((e) => e.data.event_id).sort(),
      Array.from({ length: 20 }, (_, i) => `after-${i}`).sort(),
      "the subscriber goes on after the fault, from where it was",
    );
  } finally {
    await stream.close();
    await gateway.stop();
  }
});

Deno.test("kafka: a group member that cannot heartbeat sets its partitions aside, and delivers again once it can", async () => {
  const topic = uniqueTopic("stall");
  const gateway = await startGateway(kafkaEnv(topic));
  const member = await subscribeWs(gateway.url, `group=stall-${topic}`);
  const publish = async (id: string) => {
    let status = 503;
    while (status === 503) {
      const res = await gateway.post("/v1/identifications", identification({ event_id: id }));
      status = res.status;
      await res.body?.cancel();
    }
    assert.equal(status, 202);
  };
  const said = (text: string) => gateway.lines.some((l) => l.includes(text));
  try {
    await publish("before");
    assert.equal((await member.events(1))[0].event.event_id, "before");
    // The coordinator hung: no heartbeat is answered. Half a session on, the member stops
    // delivering (the coordinator may give its partitions away once the session has run out).
    await services("sigstop", "--node", "1");
    try {
      await waitUntil(
        () => said("Kafka group heartbeats stalled; its partitions are set aside"),
        "the member set its partitions aside",
        20_000,
      );
    } finally {
      await services("sigcont", "--node", "1");
    }
    await waitReady(gateway.url, "ready-or-degraded", 60_000);
    await publish("after");
    // Unacked, "before" may come again first (read again from the group's commit).
    await waitUntil(
      () => member.seen.some((f) => f.event.event_id === "after"),
      "the member delivers again",
      60_000,
    );
  } finally {
    await member.close();
    await gateway.stop();
  }
});

/**
 * Client limits against a real gateway process: the publish rate, open
 * subscriptions, browser origins and CORS, and subscriptions to topics that
 * do not exist.
 */
import assert from "node:assert/strict";
import { Kafka, logLevel } from "kafkajs";
import {
  assertProblem,
  identification,
  KAFKA_BROKERS,
  NATS_URL,
  startGateway,
  subscribeSse,
  subscribeWs,
  uniqueTopic,
} from "../testing/harness.ts";
import { metric } from "../testing/metrics.ts";
import { rawGet, WEBSOCKET_UPGRADE } from "../testing/raw_http.ts";
import { waitFor } from "../testing/wait.ts";

const ALLOWED_ORIGIN = "https://tables.example.com";

async function embeddedGateway(env: Record<string, string> = {}) {
  return await startGateway({
    TASTESYNC_DATA_DIR: await Deno.makeTempDir({ prefix: "tastesync-limits-" }),
    ...env,
  });
}

Deno.test("a burst over the bucket gets 429 with RateLimit fields, and passes after the refill", async () => {
  const gateway = await embeddedGateway({
    TASTESYNC_AUTH_LIMITS_PUBLISH_PER_SECOND: "2",
    TASTESYNC_AUTH_LIMITS_PUBLISH_BURST: "3",
  });
  try {
    for (let i = 0; i < 3; i++) {
      const res = await gateway.post("/v1/identifications", identification());
      assert.equal(res.status, 202, await res.text());
    }
    const refused = await gateway.post("/v1/identifications", identification());
    const body = await assertProblem(refused, 429);
    assert.equal(body.type, "/docs#problem-rate-limited");
    const retryAfter = Number(refused.headers.get("retry-after"));
    assert.ok(retryAfter >= 1, `Retry-After: ${retryAfter}`);
    assert.equal(refused.headers.get("ratelimit-policy"), '"publish";q=3;w=2');
    assert.equal(refused.headers.get("ratelimit"), `"publish";r=0;t=${retryAfter}`);

    const batch = await gateway.post("/v1/events/batch", {
      events: Array.from({ length: 4 }, () => ({
        event_type: "CustomerIdentified",
        version: "v1",
        data: identification(),
      })),
    });
    await assertProblem(batch, 429);
    assert.equal(batch.headers.get("retry-after"), null, "a batch over the burst never fits");

    // Retry-After is the signal: after it, the bucket has refilled enough for one publish.
    await new Promise((r) => setTimeout(r, retryAfter * 1000));
    const again = await gateway.post("/v1/identifications", identification());
    assert.equal(again.status, 202, await again.text());
    assert.ok(await metric(gateway.url, "tastesync_rate_limited_total", { kind: "publish" }) >= 2);
    assert.ok(gateway.lines.some((l) => l.includes('"Publish refused: rate limit"')));
  } finally {
    await gateway.stop();
  }
});

Deno.test("a principal opens at most auth.limits.subscriptions subscriptions; 429 before the upgrade", async () => {
  const gateway = await embeddedGateway({ TASTESYNC_AUTH_LIMITS_SUBSCRIPTIONS: "2" });
  try {
    const sse = await subscribeSse(gateway.url, "from=latest");
    const ws = await subscribeWs(gateway.url, "from=latest");
    const upgrade = await rawGet(gateway.url, "/v1/subscribe", WEBSOCKET_UPGRADE);
    assert.equal(upgrade.status, 429, "the third is refused before any upgrade");
    await assertProblem(await fetch(`${gateway.url}/v1/stream`), 429);
    assert.ok(
      await metric(gateway.url, "tastesync_rate_limited_total", { kind: "subscriptions" }) >= 2,
    );
    await ws.close();
    let again: Awaited<ReturnType<typeof subscribeWs>> | undefined;
    await waitFor(async () => {
      again = await subscribeWs(gateway.url, "from=latest").catch(() => undefined);
      return again !== undefined;
    }, "a slot is free again once a subscription closes");
    await again!.close();
    await sse.close();
  } finally {
    await gateway.stop();
  }
});

Deno.test("a WebSocket or SSE from an origin outside http.allowed_origins gets 403; CORS echoes listed origins", async () => {
  const gateway = await embeddedGateway({ TASTESYNC_HTTP_ALLOWED_ORIGINS: ALLOWED_ORIGIN });
  try {
    const foreign = { origin: "https://evil.example" };
    assert.equal(
      (await rawGet(gateway.url, "/v1/subscribe", { ...WEBSOCKET_UPGRADE, ...foreign })).status,
      403,
    );
    assert.equal((await rawGet(gateway.url, "/v1/stream", foreign)).status, 403);
    const listed = await rawGet(gateway.url, "/v1/subscribe", {
      ...WEBSOCKET_UPGRADE,
      origin: ALLOWED_ORIGIN,
    });
    assert.equal(listed.status, 101);
    const own = await rawGet(gateway.url, "/v1/subscribe", {
      ...WEBSOCKET_UPGRADE,
      origin: gateway.url,
    });
    assert.equal(own.status, 101, "the gateway's own pages are same-origin");
    (await subscribeSse(gateway.url, "from=latest")).close(); // no Origin: not a browser

    const cors = await fetch(`${gateway.url}/healthz`, { headers: { origin: ALLOWED_ORIGIN } });
    await cors.body?.cancel();
    assert.equal(cors.headers.get("access-control-allow-origin"), ALLOWED_ORIGIN);
    assert.match(cors.headers.get("vary") ?? "", /origin/i);
    assert.equal(cors.headers.get("access-control-allow-credentials"), null);
    const preflight = await fetch(`${gateway.url}/v1/identifications`, {
      method: "OPTIONS",
      headers: {
        origin: ALLOWED_ORIGIN,
        "access-control-request-method": "POST",
        "access-control-request-headers": "authorization,content-type",
      },
    });
    await preflight.body?.cancel();
    assert.equal(preflight.headers.get("access-control-allow-origin"), ALLOWED_ORIGIN);
    assert.match(preflight.headers.get("access-control-allow-headers") ?? "", /authorization/);
    const unlisted = await fetch(`${gateway.url}/healthz`, { headers: foreign });
    await unlisted.body?.cancel();
    assert.equal(unlisted.headers.get("access-control-allow-origin"), null);
    assert.equal(unlisted.headers.get("x-content-type-options"), "nosniff");
  } finally {
    await gateway.stop();
  }
});

Deno.test("a subscription to an unknown Kafka topic gets 404 and creates nothing", async () => {
  const topic = uniqueTopic("limits");
  const gateway = await startGateway({
    TASTESYNC_KAFKA_BROKERS: KAFKA_BROKERS,
    TASTESYNC_KAFKA_TOPIC: topic,
    TASTESYNC_NATS_URL: NATS_URL,
    TASTESYNC_NATS_SUBJECT_PREFIX: `it.${topic.replaceAll("-", "_")}`,
  });
  const admin = new Kafka({
    clientId: "it-topics",
    brokers: KAFKA_BROKERS.split(","),
    logLevel: logLevel.NOTHING,
  }).admin();
  await admin.connect();
  try {
    const junk = Array.from(
      { length: 5 },
      (_, i) => `junk-${crypto.randomUUID().slice(0, 8)}-${i}`,
    );
    for (const name of junk) {
      const body = await assertProblem(await fetch(`${gateway.url}/v1/stream?topic=${name}`), 404);
      assert.equal(body.type, "/docs#problem-unknown-topic");
      const upgrade = await rawGet(gateway.url, `/v1/subscribe?topic=${name}`, WEBSOCKET_UPGRADE);
      assert.equal(upgrade.status, 404);
    }
    const topics = new Set(await admin.listTopics());
    assert.ok(topics.has(topic), "the gateway's own topic exists");
    assert.deepEqual(junk.filter((name) => topics.has(name)), [], "no topic was created");
    (await subscribeSse(gateway.url, `topic=${topic}&from=latest`)).close();
  } finally {
    await admin.disconnect();
    await gateway.stop();
  }
});

Deno.test("a topic listed in subscriptions.topics may be subscribed before it exists", async () => {
  const gateway = await embeddedGateway({ TASTESYNC_SUBSCRIPTIONS_TOPICS: "kitchen-orders" });
  try {
    await assertProblem(await fetch(`${gateway.url}/v1/stream?topic=kitchen-order`), 404);
    const stream = await subscribeSse(gateway.url, "topic=kitchen-orders&from=latest");
    assert.equal(stream.ready.topic, "kitchen-orders");
    await stream.close();
  } finally {
    await gateway.stop();
  }
});

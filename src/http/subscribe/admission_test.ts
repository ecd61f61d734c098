import assert from "node:assert/strict";
import { Hono } from "hono";
import { TopicCatalog } from "../../subscribe/topic_catalog.ts";
import { Metrics } from "../../telemetry/metrics.ts";
import { SubscriptionSlots } from "../limits/subscription_slots.ts";
import { AllowedOrigins } from "../origins.ts";
import { type Admission, SubscriptionAdmission } from "./admission.ts";

const silent = { log: () => {}, enabled: () => false };

function setup(hasTopic: (topic: string) => Promise<boolean>) {
  const admission = new SubscriptionAdmission({
    origins: new AllowedOrigins(["https://app.example.com"]),
    topics: new TopicCatalog({ hasTopic }, ["customer-events"]),
    slots: new SubscriptionSlots(1),
    logger: silent,
    metrics: new Metrics(),
  });
  const admitted: Admission[] = [];
  const app = new Hono();
  app.get("/v1/stream", async (c) => {
    const result = await admission.admit(c, c.req.query("topic") ?? "customer-events");
    admitted.push(result);
    return result.ok ? c.text("open") : result.response;
  });
  return { app, admitted };
}

Deno.test("origin, topic and open subscriptions are checked in that order", async () => {
  const { app, admitted } = setup((topic) => Promise.resolve(topic === "orders"));
  const status = async (path: string, headers: Record<string, string> = {}) =>
    (await app.request(`http://gw.example${path}`, { headers })).status;
  assert.equal(await status("/v1/stream", { origin: "https://evil.example" }), 403);
  assert.equal(await status("/v1/stream?topic=junk"), 404);
  assert.equal(await status("/v1/stream?topic=orders", { origin: "https://app.example.com" }), 200);
  assert.equal(
    await status("/v1/stream", { origin: "http://gw.example" }),
    429,
    "the slot is taken",
  );
  const first = admitted.find((a) => a.ok)!;
  if (first.ok) first.release();
  assert.equal(await status("/v1/stream", { origin: "http://gw.example" }), 200, "same origin");
});

Deno.test("a topic that cannot be looked up gets 503 with Retry-After", async () => {
  const { app } = setup(() => Promise.reject(new Error("Kafka is down")));
  const res = await app.request("/v1/stream?topic=orders");
  assert.equal(res.status, 503);
  assert.equal(res.headers.get("retry-after"), "1");
});

import assert from "node:assert/strict";
import client from "prom-client";
import { DeliveryMetrics } from "./delivery_metrics.ts";

const BUCKETS = [0.001, 0.01, 0.1, 1];
const NAMES = {
  deliveredName: "t_events_delivered_total",
  deliveredHelp: "Events sent.",
  lagName: "t_delivery_lag_seconds",
  lagHelp: "Lag.",
};
/** Deliveries of two label sets; `undefined` and negative lags count as deliveries only. */
const DELIVERIES: [{ mode: string; transport: string }, number | undefined][] = [
  [{ mode: "durable", transport: "websocket" }, 0.0004],
  [{ mode: "durable", transport: "websocket" }, 0.001],
  [{ mode: "durable", transport: "websocket" }, 0.05],
  [{ mode: "durable", transport: "websocket" }, 7],
  [{ mode: "durable", transport: "websocket" }, undefined],
  [{ mode: "live", transport: "sse" }, -0.2],
  [{ mode: "live", transport: "sse" }, 0.3],
];

Deno.test("delivery metrics: the scrape matches prom-client's own counter and histogram", async () => {
  const ours = new client.Registry();
  const deliveries = new DeliveryMetrics(ours, { ...NAMES, buckets: BUCKETS });
  const theirs = new client.Registry();
  const counter = new client.Counter({
    name: NAMES.deliveredName,
    help: NAMES.deliveredHelp,
    labelNames: ["mode", "transport"],
    registers: [theirs],
  });
  const histogram = new client.Histogram({
    name: NAMES.lagName,
    help: NAMES.lagHelp,
    labelNames: ["mode", "transport"],
    buckets: BUCKETS,
    registers: [theirs],
  });
  for (const [labels, lag] of DELIVERIES) {
    deliveries.tally(labels).record(lag);
    counter.inc(labels);
    if (lag !== undefined && lag >= 0) histogram.observe(labels, lag);
  }
  assert.equal(await ours.metrics(), await theirs.metrics());
});

Deno.test("delivery metrics: one tally per label set, counts kept across lookups", () => {
  const deliveries = new DeliveryMetrics(new client.Registry(), { ...NAMES, buckets: BUCKETS });
  const a = deliveries.tally({ mode: "group", transport: "websocket" });
  a.record(0.002);
  const again = deliveries.tally({ mode: "group", transport: "websocket" });
  assert.equal(again, a);
  again.record(Number.NaN);
  assert.equal(a.delivered, 2);
  assert.equal(a.lagCount, 1);
  assert.deepEqual(a.lagBuckets, [0, 1, 0, 0, 0]);
  assert.notEqual(deliveries.tally({ mode: "group", transport: "sse" }), a);
});

import assert from "node:assert/strict";
import { Hono } from "hono";
import type { FileDescriptors } from "../telemetry/file_descriptors.ts";
import { Metrics } from "../telemetry/metrics.ts";
import { ConnectionCap } from "./connection_cap.ts";

const silent = { log: () => {}, enabled: () => false };

/** Descriptors whose count the test sets. */
class FakeDescriptors implements FileDescriptors {
  available = true;
  count = 30;
  limit: number | undefined = 1024;
  open(): Promise<number> {
    return Promise.resolve(this.count);
  }
  softLimit(): Promise<number | undefined> {
    return Promise.resolve(this.limit);
  }
}

Deno.test("the cap is the open-files limit less the descriptors in use and a reserve", async () => {
  const fds = new FakeDescriptors();
  const cap = new ConnectionCap({
    fds,
    maxConnections: 0,
    saturationTimeoutMs: 1000,
    reserve: 64,
    logger: silent,
    metrics: new Metrics(),
  });
  await cap.start(() => {});
  cap.stop();
  assert.equal(cap.max, 1024 - 30 - 64);
  const configured = new ConnectionCap({
    fds,
    maxConnections: 100,
    saturationTimeoutMs: 1000,
    logger: silent,
    metrics: new Metrics(),
  });
  await configured.start(() => {});
  configured.stop();
  assert.equal(configured.max, 100, "a configured cap below the limit wins");
});

Deno.test("at the cap requests get 503 but /healthz; saturation lasting the timeout runs onSaturated", async () => {
  const fds = new FakeDescriptors();
  const metrics = new Metrics();
  const cap = new ConnectionCap({
    fds,
    maxConnections: 10,
    saturationTimeoutMs: 50,
    sampleIntervalMs: 5,
    logger: silent,
    metrics,
  });
  const app = new Hono();
  app.use("*", cap.middleware());
  app.get("*", (c) => c.text("ok"));
  const { promise: saturated, resolve } = Promise.withResolvers<void>();
  await cap.start(resolve);
  // The cap's timer does not keep the process alive; this deadline does, and fails a stuck test.
  const deadline = setTimeout(() => {
    throw new Error("onSaturated never ran");
  }, 5000);
  try {
    assert.equal((await app.request("/openapi.json")).status, 200);
    fds.count += 10;
    await saturated;
    const refused = await app.request("/openapi.json");
    assert.equal(refused.status, 503);
    assert.equal(refused.headers.get("connection"), "close");
    assert.equal(refused.headers.get("retry-after"), "1");
    assert.equal((await app.request("/healthz")).status, 200);
    assert.match(
      (await metrics.render()).body,
      /tastesync_rate_limited_total\{kind="connections"\} 1/,
    );
  } finally {
    clearTimeout(deadline);
    cap.stop();
  }
});

Deno.test("without /proc there is no cap", async () => {
  const fds = new FakeDescriptors();
  fds.available = false;
  const cap = new ConnectionCap({
    fds,
    maxConnections: 0,
    saturationTimeoutMs: 1000,
    logger: silent,
    metrics: new Metrics(),
  });
  await cap.start(() => {});
  assert.equal(cap.max, Infinity);
});

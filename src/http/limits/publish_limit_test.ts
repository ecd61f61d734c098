import assert from "node:assert/strict";
import { Hono } from "hono";
import type { Principal } from "../../auth/principal.ts";
import { PRINCIPAL_VARIABLE } from "../../auth/principal.ts";
import { Metrics } from "../../telemetry/metrics.ts";
import { PublishLimit } from "./publish_limit.ts";

const silent = { log: () => {}, enabled: () => false };

/** An app whose `x-principal` header names the principal, as the auth middleware would set it. */
function app(limit: PublishLimit): Hono {
  const hono = new Hono();
  hono.use("*", async (c, next) => {
    const id = c.req.header("x-principal");
    const principal: Principal = id
      ? { id, kind: "api_key", scopes: new Set() }
      : { id: "anonymous", kind: "anonymous", scopes: new Set() };
    c.set(PRINCIPAL_VARIABLE as never, principal as never);
    await next();
  });
  hono.post("/publish/:n", (c) => limit.admit(c, Number(c.req.param("n"))) ?? c.body(null, 202));
  return hono;
}

Deno.test("each principal has its own bucket; a refusal carries the RateLimit fields", async () => {
  let now = 0;
  const metrics = new Metrics();
  const hono = app(
    new PublishLimit({ perSecond: 1, burst: 2, logger: silent, metrics, clock: () => now }),
  );
  const post = (n: number, principal?: string) =>
    hono.request(`/publish/${n}`, {
      method: "POST",
      headers: principal ? { "x-principal": principal } : {},
    });
  assert.equal((await post(2, "tablet-1")).status, 202);
  const refused = await post(1, "tablet-1");
  assert.equal(refused.status, 429);
  assert.equal(refused.headers.get("retry-after"), "1");
  assert.equal(refused.headers.get("ratelimit-policy"), '"publish";q=2;w=2');
  assert.equal(refused.headers.get("ratelimit"), '"publish";r=0;t=1');
  assert.equal((await refused.json()).type, "/docs#problem-rate-limited");
  assert.equal((await post(2, "tablet-2")).status, 202, "another principal has its own bucket");
  assert.equal((await post(2)).status, 202, "anonymous callers are limited by address");
  now = 1000;
  assert.equal((await post(1, "tablet-1")).status, 202, "passes after the refill");
  const text = (await metrics.render()).body;
  assert.match(text, /tastesync_rate_limited_total\{kind="publish"\} 1/);
});

Deno.test("a batch larger than the burst is refused without Retry-After", async () => {
  const hono = app(
    new PublishLimit({ perSecond: 1, burst: 2, logger: silent, metrics: new Metrics() }),
  );
  const refused = await hono.request("/publish/3", { method: "POST" });
  assert.equal(refused.status, 429);
  assert.equal(refused.headers.get("retry-after"), null);
  assert.match((await refused.json()).detail, /batch of 3/);
});

import assert from "node:assert/strict";
import { Hono } from "hono";
import { jsonLogger } from "../telemetry/logger.ts";
import { Metrics } from "../telemetry/metrics.ts";
import { ANONYMOUS, UNAUTHENTICATED } from "./anonymous.ts";
import type { Authenticator } from "./authenticator.ts";
import { AuthenticationError } from "./errors.ts";
import { FailureThrottle } from "./failure_throttle.ts";
import { authentication, principalOf } from "./middleware.ts";
import type { Principal } from "./principal.ts";
import { INVALID_TOKEN_CHALLENGE, Refusals } from "./refusals.ts";

const TABLET: Principal = { id: "tablet-12", kind: "api_key", scopes: new Set(["admin"]) };

/** Accepts `good`, says the keys are unavailable for `down`, refuses anything else. */
class FakeAuthenticator implements Authenticator {
  calls = 0;
  authenticate(token: string): Promise<Principal> {
    this.calls++;
    if (token === "good") return Promise.resolve(TABLET);
    const reason = token === "down" ? "jwks_unavailable" : "unknown_key";
    return Promise.reject(new AuthenticationError(reason, "The API key is not valid"));
  }
}

function setup(mode: "none" | "required" = "required") {
  const lines: string[] = [];
  const metrics = new Metrics();
  const authenticator = new FakeAuthenticator();
  let now = 0;
  const app = new Hono();
  app.use(
    "*",
    authentication({
      mode,
      authenticator,
      throttle: new FailureThrottle({ threshold: 2, maxDelayMs: 10_000, now: () => now }),
      refusals: new Refusals(jsonLogger("debug", (l) => lines.push(l)), metrics),
    }),
  );
  for (const path of ["/healthz", "/v1/subscribe", "/v1/stream"]) {
    app.get(
      path,
      (c) =>
        c.json(principalOf(c).id === "anonymous" ? principalOf(c).scopes.size : principalOf(c).id),
    );
  }
  const get = (path: string, headers: Record<string, string> = {}) =>
    Promise.resolve(app.request(path, { headers }));
  const failures =
    async () => (await metrics.registry.getSingleMetricAsString("tastesync_auth_failures_total"));
  return { app, get, lines, authenticator, failures, advance: (ms: number) => void (now += ms) };
}

Deno.test("auth.mode none: everyone is the anonymous principal with every scope, tokens unread", async () => {
  const { get, authenticator } = setup("none");
  const res = await get("/v1/subscribe", { authorization: "Bearer whatever" });
  assert.equal(await res.json(), ANONYMOUS.scopes.size);
  assert.equal(authenticator.calls, 0);
});

Deno.test("required: no credential is 401 with the challenge, except on public routes", async () => {
  const { get, lines, failures } = setup();
  const res = await get("/v1/subscribe");
  assert.equal(res.status, 401);
  assert.equal(res.headers.get("www-authenticate"), INVALID_TOKEN_CHALLENGE);
  assert.equal(res.headers.get("content-type"), "application/problem+json");
  assert.equal((await res.json()).type, "/docs#problem-unauthorized");
  assert.match(await failures(), /reason="missing"\} 1/);
  assert.equal(lines.length, 1);
  assert.equal(JSON.parse(lines[0]).level, "info");
  const health = await get("/healthz");
  assert.equal(health.status, 200);
  assert.equal(await health.json(), UNAUTHENTICATED.scopes.size);
});

Deno.test("required: a good token sets its principal; a bad one is 401 even on public routes", async () => {
  const { get, lines } = setup();
  assert.equal(
    await (await get("/v1/subscribe", { authorization: "Bearer good" })).json(),
    "tablet-12",
  );
  const bad = await get("/healthz", { authorization: "Bearer tsk_secret-guess" });
  assert.equal(bad.status, 401);
  const malformed = await get("/v1/subscribe", { authorization: "Basic Zm9vOmJhcg==" });
  assert.equal(malformed.status, 401);
  assert.ok(lines.every((l) => !l.includes("tsk_secret-guess") && !l.includes("Zm9vOmJhcg")));
  assert.ok(lines.some((l) => JSON.parse(l).reason === "unknown_key"));
});

Deno.test("required: access_token is read only on the Server-Sent Events route", async () => {
  const { get } = setup();
  assert.equal(await (await get("/v1/stream?access_token=good")).json(), "tablet-12");
  assert.equal((await get("/v1/subscribe?access_token=good")).status, 401);
});

Deno.test("required: past the threshold an address gets 429 and its credential is not checked", async () => {
  const { get, authenticator, advance, failures } = setup();
  for (let i = 0; i < 3; i++) {
    assert.equal((await get("/v1/subscribe", { authorization: "Bearer bad" })).status, 401);
  }
  const calls = authenticator.calls;
  const slowed = await get("/v1/subscribe", { authorization: "Bearer good" });
  assert.equal(slowed.status, 429);
  assert.equal(slowed.headers.get("retry-after"), "1");
  assert.equal(authenticator.calls, calls, "not checked while slowed down");
  assert.match(await failures(), /reason="throttled"\} 1/);
  advance(1000);
  assert.equal((await get("/v1/subscribe", { authorization: "Bearer good" })).status, 200);
});

Deno.test("required: unavailable issuer keys are 503 and do not count against the address", async () => {
  const { get } = setup();
  for (let i = 0; i < 5; i++) {
    const res = await get("/v1/subscribe", { authorization: "Bearer down" });
    assert.equal(res.status, 503);
    assert.equal(res.headers.get("retry-after"), "1");
  }
  assert.equal((await get("/v1/subscribe", { authorization: "Bearer good" })).status, 200);
});

Deno.test("principalOf refuses a request the middleware did not see", async () => {
  const app = new Hono();
  app.onError((e) => new Response(e.message, { status: 500 }));
  app.get("/", (c) => c.json(principalOf(c).id));
  const res = await app.request("/");
  assert.equal(res.status, 500);
  assert.match(await res.text(), /No principal/);
});

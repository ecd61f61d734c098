import assert from "node:assert/strict";
import { Hono } from "hono";
import { AllowedOrigins } from "./origins.ts";

Deno.test("no Origin, the gateway's own origin and listed origins are allowed", () => {
  const origins = new AllowedOrigins(["https://app.example.com"]);
  const url = "https://gw.example.com/v1/stream";
  assert.equal(origins.allows(undefined, url), true);
  assert.equal(origins.allows("https://gw.example.com", url), true);
  assert.equal(origins.allows("https://app.example.com", url), true);
  assert.equal(origins.allows("https://app.example.com.evil.example", url), false);
  assert.equal(origins.allows("http://gw.example.com", url), false, "the scheme is part of it");
  assert.equal(origins.allows("null", url), false);
});

Deno.test("CORS echoes a listed origin, never *, and answers nothing to others", async () => {
  const app = new Hono();
  app.use("*", new AllowedOrigins(["https://app.example.com"]).cors());
  app.get("/healthz", (c) => c.json({ status: "ok" }));
  const listed = await app.request("/healthz", { headers: { origin: "https://app.example.com" } });
  assert.equal(listed.headers.get("access-control-allow-origin"), "https://app.example.com");
  assert.match(listed.headers.get("access-control-expose-headers")!, /ratelimit/);
  const other = await app.request("/healthz", { headers: { origin: "https://evil.example" } });
  assert.equal(other.headers.get("access-control-allow-origin"), null);
  const preflight = await app.request("/healthz", {
    method: "OPTIONS",
    headers: { origin: "https://app.example.com", "access-control-request-method": "GET" },
  });
  assert.equal(preflight.status, 204);
  assert.match(preflight.headers.get("access-control-allow-methods")!, /POST/);
});

Deno.test("a request without Origin (not a browser page) gets no CORS headers", async () => {
  const app = new Hono();
  app.use("*", new AllowedOrigins(["https://app.example.com"]).cors());
  app.get("/healthz", (c) => c.json({ status: "ok" }));
  const plain = await app.request("/healthz");
  assert.equal(plain.status, 200);
  for (const [name] of plain.headers) assert.doesNotMatch(name, /^access-control-/);
});

import assert from "node:assert/strict";
import { Hono } from "hono";
import { DOCS_CONTENT_SECURITY_POLICY, securityHeaders } from "./security_headers.ts";

Deno.test("every response is nosniff and no-store unless the route says otherwise; /docs has a CSP", async () => {
  const app = new Hono();
  app.use("*", securityHeaders());
  app.get("/docs", (c) => c.html("<p>docs</p>"));
  app.get("/v1/cached", (c) => c.body("x", 200, { "cache-control": "max-age=60" }));
  app.get("/v1/thing", (c) => c.json({}));
  const docs = await app.request("/docs");
  assert.equal(docs.headers.get("content-security-policy"), DOCS_CONTENT_SECURITY_POLICY);
  assert.equal(docs.headers.get("x-content-type-options"), "nosniff");
  const api = await app.request("/v1/thing");
  assert.equal(api.headers.get("cache-control"), "no-store");
  assert.equal(api.headers.get("content-security-policy"), null);
  const missing = await app.request("/nothing-here");
  assert.equal(missing.headers.get("x-content-type-options"), "nosniff");
  assert.equal((await app.request("/v1/cached")).headers.get("cache-control"), "max-age=60");
});

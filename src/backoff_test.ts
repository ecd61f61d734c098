import assert from "node:assert/strict";
import { backoffDelay } from "./backoff.ts";

Deno.test("backoffDelay doubles from the first wait and stops at the cap", () => {
  const policy = { firstMs: 100, maxMs: 500 };
  assert.deepEqual([0, 1, 2, 3, 10].map((a) => backoffDelay(a, policy)), [100, 200, 400, 500, 500]);
});

Deno.test("backoffDelay stays finite and at least the first wait for any attempt", () => {
  const policy = { firstMs: 2, maxMs: 100 };
  assert.equal(backoffDelay(10_000, policy), 100);
  assert.equal(backoffDelay(-1, policy), 2);
});

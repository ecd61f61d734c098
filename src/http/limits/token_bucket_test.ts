import assert from "node:assert/strict";
import { TokenBucket } from "./token_bucket.ts";

Deno.test("a bucket lets a burst through, then refuses until it refills", () => {
  let now = 0;
  const bucket = new TokenBucket(10, 20, () => now);
  assert.equal(bucket.take(20).allowed, true);
  const refused = bucket.take(1);
  assert.equal(refused.allowed, false);
  assert.equal(refused.remaining, 0);
  assert.equal(refused.retryInMs, 100);
  assert.equal(refused.fullInMs, 2000);
  now = 100;
  assert.equal(bucket.take(1).allowed, true);
  now = 10_000;
  assert.equal(bucket.full, true);
});

Deno.test("a cost over the burst can never go", () => {
  const bucket = new TokenBucket(10, 20, () => 0);
  const decision = bucket.take(21);
  assert.equal(decision.allowed, false);
  assert.equal(decision.retryInMs, Infinity);
  assert.equal(decision.remaining, 20, "a refused cost takes nothing");
});

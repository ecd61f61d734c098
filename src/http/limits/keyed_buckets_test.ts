import assert from "node:assert/strict";
import { KeyedBuckets } from "./keyed_buckets.ts";

Deno.test("each key has its own bucket", () => {
  const buckets = new KeyedBuckets({ perSecond: 1, burst: 2, clock: () => 0 });
  assert.equal(buckets.take("a", 2).allowed, true);
  assert.equal(buckets.take("a", 1).allowed, false);
  assert.equal(buckets.take("b", 2).allowed, true);
});

Deno.test("full buckets are swept, so idle keys take no memory", () => {
  let now = 0;
  const buckets = new KeyedBuckets({
    perSecond: 10,
    burst: 10,
    clock: () => now,
    sweepIntervalMs: 1000,
  });
  for (let i = 0; i < 100; i++) buckets.take(`10.0.0.${i}`, 1);
  assert.equal(buckets.size, 100);
  now = 2000;
  buckets.take("late", 1);
  assert.equal(buckets.size, 1, "only the key that spent tokens since is kept");
});

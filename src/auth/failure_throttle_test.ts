import assert from "node:assert/strict";
import { FAILURE_MEMORY_MS, FailureThrottle } from "./failure_throttle.ts";

Deno.test("after the threshold an address waits 1 s, doubling per failure up to the cap", () => {
  let now = 0;
  const throttle = new FailureThrottle({ threshold: 3, maxDelayMs: 5000, now: () => now });
  for (let i = 0; i < 3; i++) throttle.failed("10.0.0.1");
  assert.equal(throttle.waitMs("10.0.0.1"), 0, "the threshold itself is free");
  const waits = [];
  for (let i = 0; i < 5; i++) {
    throttle.failed("10.0.0.1");
    waits.push(throttle.waitMs("10.0.0.1"));
  }
  assert.deepEqual(waits, [1000, 2000, 4000, 5000, 5000]);
  assert.equal(throttle.waitMs("10.0.0.2"), 0, "other addresses are not slowed");
  now += 5000;
  assert.equal(throttle.waitMs("10.0.0.1"), 0, "the wait passes");
});

Deno.test("an address is forgotten after a quiet spell", () => {
  let now = 0;
  const throttle = new FailureThrottle({ threshold: 1, maxDelayMs: 60_000, now: () => now });
  throttle.failed("a");
  throttle.failed("a");
  assert.equal(throttle.waitMs("a"), 1000);
  now += FAILURE_MEMORY_MS + 1;
  throttle.failed("a");
  assert.equal(throttle.waitMs("a"), 0, "counting starts again");
});

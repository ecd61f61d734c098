import assert from "node:assert/strict";
import { SubscriptionSlots } from "./subscription_slots.ts";

Deno.test("a key gets at most max slots, and a released slot can be taken again", () => {
  const slots = new SubscriptionSlots(2);
  const first = slots.acquire("a")!;
  assert.ok(slots.acquire("a"));
  assert.equal(slots.acquire("a"), undefined);
  assert.ok(slots.acquire("b"), "other keys are counted apart");
  first();
  first();
  assert.equal(slots.count("a"), 1, "releasing twice gives back one slot");
  assert.ok(slots.acquire("a"));
});

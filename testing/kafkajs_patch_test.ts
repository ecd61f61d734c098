import assert from "node:assert/strict";
import RequestQueue from "kafkajs/src/network/requestQueue/index.js";
import "./kafkajs_patch.ts";

Deno.test("kafkajs patch: an idle request queue schedules no wake-up; a throttled one does", () => {
  const schedule = RequestQueue.prototype.scheduleCheckPendingRequests;
  const idle = {
    throttledUntil: Date.now() - 1,
    throttleCheckTimeoutId: null as number | null,
    pending: [] as unknown[],
    checkPendingRequests() {},
  };
  schedule.call(idle);
  assert.equal(idle.throttleCheckTimeoutId, null, "nothing pending, no throttle: no timer");

  const waiting = { ...idle, pending: [{}] };
  schedule.call(waiting);
  assert.notEqual(waiting.throttleCheckTimeoutId, null, "a pending request is checked again");
  clearTimeout(waiting.throttleCheckTimeoutId!);
});

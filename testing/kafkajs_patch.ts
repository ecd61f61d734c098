/**
 * The tests' independent Kafka client is kafkajs. This fixes a busy loop in
 * kafkajs 2.2.4 (tulios/kafkajs#1751): with nothing pending and no throttling, `scheduleCheckPendingRequests` sets a negative
 * timeout, which runtimes clamp to 1 ms, so every broker connection wakes the
 * event loop a thousand times a second forever. That costs CPU and adds
 * latency jitter to every request. With nothing pending and no throttle there
 * is nothing to check: a new request checks the queue itself.
 *
 * @module
 */
import kafkajsPackage from "kafkajs/package.json" with { type: "json" };
import RequestQueue from "kafkajs/src/network/requestQueue/index.js";

/** The kafkajs version this patch was written for and checked against. */
export const PATCHED_KAFKAJS_VERSION = "2.2.4";

// Another version may have fixed the loop, or changed what is replaced: read its code, then move
// the version above (kafkajs_patch_test.ts checks the patch's effect).
if (kafkajsPackage.version !== PATCHED_KAFKAJS_VERSION) {
  throw new Error(
    `testing/kafkajs_patch.ts replaces a method of kafkajs ${PATCHED_KAFKAJS_VERSION}, ` +
      `not of ${kafkajsPackage.version}: check the patch against the new version`,
  );
}

/** Kafkajs' retry period for pending requests, in ms. */
const CHECK_PENDING_REQUESTS_INTERVAL = 10;

interface Queue {
  throttledUntil: number;
  throttleCheckTimeoutId: ReturnType<typeof setTimeout> | null;
  pending: unknown[];
  checkPendingRequests(): void;
}

RequestQueue.prototype.scheduleCheckPendingRequests = function (this: Queue) {
  if (this.throttleCheckTimeoutId) return;
  let scheduleAt = this.throttledUntil - Date.now();
  if (this.pending.length > 0) {
    scheduleAt = scheduleAt > 0 ? scheduleAt : CHECK_PENDING_REQUESTS_INTERVAL;
  } else if (scheduleAt <= 0) return;
  this.throttleCheckTimeoutId = setTimeout(() => {
    this.throttleCheckTimeoutId = null;
    this.checkPendingRequests();
  }, scheduleAt);
};

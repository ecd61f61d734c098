import assert from "node:assert/strict";
import { InProcessBus, type LiveMessage, subjectMatches } from "./live_bus.ts";

Deno.test("subjectMatches follows NATS wildcards", () => {
  assert.ok(subjectMatches("a.b", "a.b"));
  assert.ok(subjectMatches("a.*", "a.b"));
  assert.ok(subjectMatches("a.>", "a.b.c"));
  assert.ok(!subjectMatches("a.>", "a"));
  assert.ok(!subjectMatches("a.*", "a.b.c"));
  assert.ok(!subjectMatches("a.b", "a.c"));
});

Deno.test("InProcessBus delivers to matching subscribers until they leave", async () => {
  const bus = new InProcessBus();
  const got: LiveMessage[] = [];
  const stop = await bus.subscribe("n.*", (m) => got.push(m));
  const message = { subject: "n.x", data: "{}", headers: {} };
  assert.equal(bus.publish(message), true);
  bus.publish({ ...message, subject: "other.x" });
  await Promise.resolve();
  assert.deepEqual(got, [message]);
  stop();
  bus.publish(message);
  await Promise.resolve();
  assert.equal(got.length, 1);
});

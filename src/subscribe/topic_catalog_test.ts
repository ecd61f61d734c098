import assert from "node:assert/strict";
import { TopicCatalog } from "./topic_catalog.ts";

Deno.test("configured topics are known without asking the log; others are asked about", async () => {
  const asked: string[] = [];
  const existing = new Set(["orders"]);
  const catalog = new TopicCatalog({
    hasTopic: (topic) => {
      asked.push(topic);
      return Promise.resolve(existing.has(topic));
    },
  }, ["customer-events"]);
  assert.equal(await catalog.has("customer-events"), true);
  assert.equal(await catalog.has("junk-1"), false);
  assert.equal(await catalog.has("orders"), true);
  assert.equal(await catalog.has("orders"), true);
  assert.deepEqual(asked, ["junk-1", "orders"], "a topic found once is not asked about again");
});

import assert from "node:assert/strict";
import { ConfigError } from "./errors.ts";
import { kafkaBrokers, parseConfig } from "./config.ts";

Deno.test("parseConfig applies defaults", () => {
  const c = parseConfig(undefined, {});
  assert.equal(c.http.port, 8080);
  assert.equal(c.kafka.topic, "customer-events");
  assert.deepEqual(kafkaBrokers(c), []);
  assert.equal(c.dedup.window, 86_400_000);
  assert.equal(c.http.body_limit_bytes, 65_536);
});

Deno.test("parseConfig reads YAML with the design's kafka.broker, env overrides it", () => {
  const yaml = "kafka:\n  broker: kafka-1:9092\n  topic: from-file\nhttp:\n  port: 9000\n";
  const c = parseConfig(yaml, { TASTESYNC_KAFKA_TOPIC: "from-env", TASTESYNC_DEDUP_WINDOW: "2h" });
  assert.deepEqual(kafkaBrokers(c), ["kafka-1:9092"]);
  assert.equal(c.kafka.topic, "from-env");
  assert.equal(c.http.port, 9000);
  assert.equal(c.dedup.window, 7_200_000);
});

Deno.test("parseConfig splits TASTESYNC_KAFKA_BROKERS", () => {
  const c = parseConfig(undefined, { TASTESYNC_KAFKA_BROKERS: "a:9092, b:9093" });
  assert.deepEqual(kafkaBrokers(c), ["a:9092", "b:9093"]);
});

Deno.test("parseConfig names the invalid key and its variable", () => {
  assert.throws(
    () => parseConfig(undefined, { TASTESYNC_HTTP_PORT: "eighty" }),
    (e) => e instanceof ConfigError && e.key === "http.port (TASTESYNC_HTTP_PORT)",
  );
  assert.throws(
    () => parseConfig("kafka:\n  brokers: [nope]\n", {}),
    (e) => e instanceof ConfigError && e.key === "kafka.brokers.0",
  );
  assert.throws(
    () => parseConfig("kafka:\n  topik: x\n", {}),
    (e) => e instanceof ConfigError && e.key === "kafka.topik",
  );
  assert.throws(() => parseConfig("- a\n", {}), ConfigError);
});

Deno.test("the example configs in deploy/ are valid", async () => {
  const local = parseConfig(
    await Deno.readTextFile(new URL("../deploy/config.example.yaml", import.meta.url)),
    {},
  );
  assert.deepEqual(kafkaBrokers(local), ["127.0.0.1:9092"]);
  const production = parseConfig(
    await Deno.readTextFile(new URL("../deploy/config.production.yaml", import.meta.url)),
    {},
  );
  assert.equal(production.kafka.replication_factor, 3);
  assert.equal(kafkaBrokers(production).length, 3);
});

Deno.test("subscriptions.stall_timeout defaults to 30 s and TASTESYNC_SUBSCRIPTIONS_STALL_TIMEOUT sets it", () => {
  assert.equal(parseConfig(undefined, {}).subscriptions.stall_timeout, 30_000);
  const c = parseConfig(undefined, { TASTESYNC_SUBSCRIPTIONS_STALL_TIMEOUT: "750ms" });
  assert.equal(c.subscriptions.stall_timeout, 750);
  assert.throws(
    () => parseConfig(undefined, { TASTESYNC_SUBSCRIPTIONS_STALL_TIMEOUT: "soon" }),
    (e) =>
      e instanceof ConfigError &&
      e.key === "subscriptions.stall_timeout (TASTESYNC_SUBSCRIPTIONS_STALL_TIMEOUT)",
  );
});

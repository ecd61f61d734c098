/**
 * The dedup window loader against a real Kafka broker: every id of the range
 * is loaded with its partition and offset, through many small fetches,
 * compressed batches and records of other producers.
 */
import assert from "node:assert/strict";
import { Admin, Producer, stringSerializers } from "@platformatic/kafka";
import { DedupWindow } from "../src/log/dedup_window.ts";
import { TopicAdmin } from "../src/log/kafka/admin.ts";
import { EVENT_ID_HEADER, FINGERPRINT_HEADER } from "../src/log/kafka/client.ts";
import { loadWindow } from "../src/log/kafka/window_loader.ts";
import { KAFKA_BROKERS, uniqueTopic } from "../testing/harness.ts";

const PARTITIONS = 3;
const connection = {
  brokers: KAFKA_BROKERS.split(","),
  clientId: "it-dedup-load",
  connectionTimeoutMs: 5000,
  requestTimeoutMs: 5000,
  retries: 3,
  initialRetryMs: 100,
};

Deno.test("kafka: the dedup window loads every id of its range, fetch after fetch", async () => {
  const topic = uniqueTopic("dedup-load");
  const admin = new Admin({ clientId: "it-dedup-load", bootstrapBrokers: connection.brokers });
  const producer = new Producer({
    clientId: "it-dedup-load",
    bootstrapBrokers: connection.brokers,
    serializers: stringSerializers,
  });
  const topics = new TopicAdmin(connection);
  try {
    await admin.createTopics({ topics: [topic], partitions: PARTITIONS, replicas: 1 });
    const written = new Map<string, { partition: number; offset: string }>();
    for (let i = 0; i < 120; i++) {
      const id = `id-${i}`;
      const partition = i % PARTITIONS;
      const headers: Record<string, string> = { "ce_id": id };
      // Every tenth record is another producer's, with no dedup headers.
      if (i % 10 !== 0) {
        Object.assign(headers, { [EVENT_ID_HEADER]: id, [FINGERPRINT_HEADER]: `f${i}` });
      }
      const { offsets } = await producer.send({
        messages: [{ topic, partition, key: "k", value: "v".repeat(i * 10), headers }],
        compression: i % 4 === 0 ? "gzip" : "none",
      });
      if (i % 10 !== 0) written.set(id, { partition, offset: String(offsets![0].offset) });
    }
    const ends = await topics.offsets(topic, PARTITIONS);
    // Partition 0 from its fifth record on: the first four are outside the window.
    const ranges = new Map(ends.map(({ partition, high }) => [
      partition,
      { from: partition === 0 ? 4n : 0n, until: high },
    ]));
    const window = new DedupWindow(60_000);
    const next = await loadWindow(
      { connection, topic, ranges, leaders: await topics.leaders(topic), fetchBytes: 256 },
      window,
    );

    assert.deepEqual([...next].sort(), ends.map((e) => [e.partition, e.high]));
    for (const [id, { partition, offset }] of written) {
      const outside = partition === 0 && BigInt(offset) < 4n;
      assert.deepEqual(
        window.check(id, `f${id.slice(3)}`),
        outside ? undefined : { topic, partition, offset, duplicate: true },
        id,
      );
    }
    assert.equal(window.check("id-0", "f0"), undefined);
  } finally {
    await producer.close();
    await topics.close();
    await admin.deleteTopics({ topics: [topic] }).catch(() => {});
    await admin.close();
  }
});

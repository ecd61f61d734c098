import assert from "node:assert/strict";
import { jsonLogger } from "../../telemetry/logger.ts";
import { KafkaReader, type ReaderConsumer } from "./reader.ts";

/** Never dialled: the fake consumer stands in for the client. */
const CONNECTION = { brokers: [], clientId: "test", retries: 0, initialRetryMs: 1 } as const;
const TIMEOUTS = { connectionTimeoutMs: 1, requestTimeoutMs: 1 };

/**
 * A consumer whose every fetch is answered at once with no partition in it:
 * what a broker sends when its fetch session has lost the partitions.
 */
function hurriedConsumer(
  fetches: number[],
  closed: { count: number },
  spinning: () => void,
): ReaderConsumer {
  const fake = {
    metadata: () =>
      Promise.resolve({
        topics: new Map([["t", { id: "topic-id", partitions: [{ leader: 1 }] }]]),
      }),
    fetch: () => {
      if (fetches.push(performance.now()) > 50) spinning();
      return Promise.resolve({ responses: [{ partitions: [] }] });
    },
    close: () => {
      closed.count++;
      return Promise.resolve();
    },
  };
  return fake as unknown as ReaderConsumer;
}

Deno.test("reader: answers that did not wait back off, then a new consumer opens a new session", async () => {
  const fetches: number[][] = [];
  const closed = { count: 0 };
  const renewed = Promise.withResolvers<void>();
  const warnings: Record<string, unknown>[] = [];
  const reader = new KafkaReader({
    connection: { ...CONNECTION, ...TIMEOUTS, brokers: [] },
    topic: "t",
    from: new Map([[0, 0n]]),
    onRecords: () => {},
    logger: jsonLogger("warn", (line) => warnings.push(JSON.parse(line))),
    role: "dedup",
    newConsumer: () => {
      if (fetches.length === 1) renewed.resolve();
      const mine: number[] = [];
      fetches.push(mine);
      return hurriedConsumer(mine, closed, () => renewed.resolve());
    },
  });
  await reader.start();
  await renewed.promise;
  await reader.close();

  const [first] = fetches;
  // Three answers in a row that did not wait: a pause after each (100 ms, then 200 ms), not a spin.
  assert.equal(first.length, 3);
  assert.ok(first[2] - first[0] >= 250, `fetched again after ${first[2] - first[0]} ms`);
  assert.ok(closed.count >= 1, "the consumer with the broken session is closed");
  assert.ok(
    warnings.some((w) => w.msg === "Kafka fetch session answers without waiting; starting anew"),
  );
});

import assert from "node:assert/strict";
import { jsonLogger } from "../../telemetry/logger.ts";
import { DEFAULT_FETCH_MAX_WAIT_MS, KafkaReader, type ReaderConsumer } from "./reader.ts";

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

Deno.test("reader: while records come, fetches wait for minBytes up to maxWaitMs; after a quiet answer, for the first record", async () => {
  const asked: { minBytes: number; maxWaitTime: number }[] = [];
  const third = Promise.withResolvers<void>();
  const release = Promise.withResolvers<void>();
  const answers = [
    // Records (a partition named): the next fetch may wait for more.
    () => Promise.resolve({ responses: [{ partitions: [{ partitionIndex: 0, errorCode: 0 }] }] }),
    // Nothing within its wait: the next fetch answers at the first record again.
    () =>
      new Promise((resolve) => setTimeout(() => resolve({ responses: [{ partitions: [] }] }), 10)),
  ];
  const fake = {
    metadata: () =>
      Promise.resolve({
        topics: new Map([["t", { id: "topic-id", partitions: [{ leader: 1 }] }]]),
      }),
    fetch: (options: { minBytes: number; maxWaitTime: number }) => {
      asked.push({ minBytes: options.minBytes, maxWaitTime: options.maxWaitTime });
      const answer = answers[asked.length - 1];
      if (answer) return answer();
      third.resolve();
      return release.promise.then(() => ({ responses: [{ partitions: [] }] }));
    },
    close: () => Promise.resolve(),
  };
  const reader = new KafkaReader({
    connection: { ...CONNECTION, ...TIMEOUTS, brokers: [] },
    topic: "t",
    from: new Map([[0, 0n]]),
    onRecords: () => {},
    logger: jsonLogger("warn", () => {}),
    role: "dedup",
    minBytes: 4096,
    maxWaitMs: 20,
    newConsumer: () => fake as unknown as ReaderConsumer,
  });
  await reader.start();
  await third.promise;
  const closing = reader.close();
  release.resolve();
  await closing;
  assert.deepEqual(asked, [
    { minBytes: 1, maxWaitTime: DEFAULT_FETCH_MAX_WAIT_MS },
    { minBytes: 4096, maxWaitTime: 20 },
    { minBytes: 1, maxWaitTime: DEFAULT_FETCH_MAX_WAIT_MS },
  ]);
});

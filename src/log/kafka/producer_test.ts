import assert from "node:assert/strict";
import {
  EarlierWriteError,
  PartitionedProducer,
  type PartitionedProducerOptions,
  ProduceFailedError,
  PublishTimeoutError,
} from "./producer.ts";
import type { PartitionMessage, PartitionTransactions } from "./transactional_partition.ts";

const OPTIONS: PartitionedProducerOptions = {
  brokers: ["127.0.0.1:1"],
  clientId: "test",
  connectionTimeoutMs: 100,
  requestTimeoutMs: 100,
  retries: 0,
  initialRetryMs: 10,
  topic: "t",
  maxBatch: 100,
  lingerMs: 0,
  publishTimeoutMs: 200,
  transactionalId: "test-tx",
  lanes: 1,
};

interface Call {
  partition: number;
  kind: "write" | "commit";
  keys: string[];
  answer: (offset?: bigint) => void;
  fail: (e: Error) => void;
}

/** Fake transactions: each write and commit waits for the test to answer it. */
function fakeTransactions() {
  const calls: Call[] = [];
  const resets: number[] = [];
  const aborts: number[] = [];
  const warmed: number[] = [];
  const factory = (partition: number): PartitionTransactions => {
    const call = <T>(kind: Call["kind"], keys: string[] = []) =>
      new Promise<T>((answer, fail) =>
        calls.push({ partition, kind, keys, answer: answer as Call["answer"], fail })
      );
    return {
      write: (messages: readonly PartitionMessage[]) =>
        call<bigint>("write", messages.map((m) => m.key)),
      commit: () => call<void>("commit"),
      abort: () => Promise.resolve(void aborts.push(partition)),
      reset: () => void resets.push(partition),
      warm: () => void warmed.push(partition),
      close: () => Promise.resolve(),
    };
  };
  const next = async (kind: Call["kind"], partition?: number) => {
    for (;;) {
      const at = calls.findIndex((c) =>
        c.kind === kind && (partition === undefined || c.partition === partition)
      );
      if (at >= 0) return calls.splice(at, 1)[0];
      await new Promise((r) => setTimeout(r, 1));
    }
  };
  return { factory, next, resets, aborts, warmed, calls };
}

const message = (i: number) => ({ key: `k${i}`, value: `v${i}`, headers: {} });

Deno.test("a batch is one transaction: its records get their offsets once it commits", async () => {
  const fake = fakeTransactions();
  const producer = new PartitionedProducer(OPTIONS, fake.factory);
  const sent = [producer.send(1, message(0)), producer.send(1, message(1))];
  const write = await fake.next("write");
  assert.deepEqual([write.partition, write.keys], [1, ["k0", "k1"]]);
  write.answer(41n);
  (await fake.next("commit")).answer();
  assert.deepEqual(await Promise.all(sent), [41n, 42n]);
  assert.deepEqual(fake.resets, []);
});

Deno.test("warm readies every lane of every partition before the first record", () => {
  const fake = fakeTransactions();
  const producer = new PartitionedProducer({ ...OPTIONS, lanes: 2 }, fake.factory);
  producer.warm(3);
  assert.deepEqual(fake.warmed.sort(), [0, 0, 1, 1, 2, 2]);
  assert.deepEqual(fake.calls, [], "nothing is written");
});

Deno.test("a partition whose write hangs holds back only itself; its records are never committed", async () => {
  const fake = fakeTransactions();
  const producer = new PartitionedProducer(OPTIONS, fake.factory);
  const stuck = producer.send(0, message(0));
  const stuckWrite = await fake.next("write", 0);
  const queued = producer.send(0, message(1));
  const other = producer.send(1, message(2));
  (await fake.next("write", 1)).answer(0n);
  (await fake.next("commit", 1)).answer();
  assert.equal(await other, 0n);
  for (const outcome of await Promise.allSettled([stuck, queued])) {
    assert.ok(outcome.status === "rejected" && outcome.reason instanceof PublishTimeoutError);
    assert.equal(outcome.reason.maybeAt, undefined, "not in doubt: it will not be committed");
  }
  // Nobody waits for the hanging write any more: it is abandoned, its producer replaced (which
  // aborts its transaction), and the partition writes again without waiting for it.
  assert.deepEqual(fake.resets, [0]);
  const after = producer.send(0, message(3));
  const write = await fake.next("write", 0);
  assert.deepEqual(write.keys, ["k3"]);
  write.answer(4n);
  (await fake.next("commit", 0)).answer();
  assert.equal(await after, 4n);
  stuckWrite.answer(7n);
  await new Promise((r) => setTimeout(r, 10));
  assert.equal(fake.calls.length, 0, "the late answer of the abandoned write commits nothing");
  await producer.close();
});

Deno.test("records still waiting when another in their batch expired go into the next transaction", async () => {
  const fake = fakeTransactions();
  const producer = new PartitionedProducer(OPTIONS, fake.factory);
  const early = producer.send(0, message(0), undefined, 80);
  const later = producer.send(0, message(1), undefined, 2000);
  const first = await fake.next("write");
  await assert.rejects(early, PublishTimeoutError);
  first.answer(5n);
  const second = await fake.next("write");
  assert.deepEqual(fake.aborts, [0]);
  assert.deepEqual(second.keys, ["k1"]);
  second.answer(9n);
  (await fake.next("commit")).answer();
  assert.equal(await later, 9n);
});

Deno.test("a failed write is aborted and tried again in a new transaction", async () => {
  const fake = fakeTransactions();
  const producer = new PartitionedProducer(OPTIONS, fake.factory);
  const sent = producer.send(0, message(0));
  (await fake.next("write")).fail(new Error("PRODUCER_FENCED"));
  const again = await fake.next("write");
  assert.deepEqual([fake.resets, again.keys], [[0], ["k0"]]);
  again.answer(4n);
  (await fake.next("commit")).answer();
  assert.equal(await sent, 4n);
});

Deno.test("a record whose writes keep failing is rejected, certainly not written", async () => {
  const fake = fakeTransactions();
  const producer = new PartitionedProducer(OPTIONS, fake.factory);
  const sent = [producer.send(0, message(0)), producer.send(0, message(1))];
  for (let i = 0; i < 3; i++) (await fake.next("write")).fail(new Error("NOT_ENOUGH_REPLICAS"));
  for (const s of sent) {
    await assert.rejects(s, (e) => e instanceof ProduceFailedError && e.maybeAt === undefined);
  }
  assert.deepEqual(fake.resets, [0, 0, 0]);
  assert.equal(fake.calls.length, 0);
});

Deno.test("a record with too little time left for a write is answered unsent", async () => {
  const fake = fakeTransactions();
  const producer = new PartitionedProducer(OPTIONS, fake.factory);
  const short = assert.rejects(
    producer.send(0, message(0), undefined, 10),
    (e) => e instanceof PublishTimeoutError && e.maybeAt === undefined,
  );
  const long = producer.send(0, message(1));
  const write = await fake.next("write");
  assert.deepEqual(write.keys, ["k1"]);
  await short;
  write.answer(0n);
  (await fake.next("commit")).answer();
  assert.equal(await long, 0n);
});

/** Writes `i`'s record through `fake` as one transaction that takes at least `ms`. */
async function writeTaking(
  producer: PartitionedProducer,
  fake: ReturnType<typeof fakeTransactions>,
  i: number,
  ms: number,
): Promise<void> {
  const sent = producer.send(0, message(i), undefined, 1_000);
  const write = await fake.next("write");
  await new Promise((r) => setTimeout(r, ms));
  write.answer(BigInt(i));
  (await fake.next("commit")).answer();
  assert.equal(await sent, BigInt(i));
}

Deno.test("one slow write (a broker failure waited out) does not turn the records behind it away", async () => {
  const fake = fakeTransactions();
  const producer = new PartitionedProducer(OPTIONS, fake.factory);
  await writeTaking(producer, fake, 0, 0);
  await writeTaking(producer, fake, 1, 120);
  // 80 ms left: less than twice the slow write, more than twice the fastest recent one.
  const sent = producer.send(0, message(2), undefined, 80);
  const write = await fake.next("write");
  assert.deepEqual(write.keys, ["k2"]);
  write.answer(2n);
  (await fake.next("commit")).answer();
  assert.equal(await sent, 2n);
});

Deno.test("after a slow spell, a record with less than twice a write's time left is answered unsent", async () => {
  const fake = fakeTransactions();
  const producer = new PartitionedProducer(OPTIONS, fake.factory);
  for (let i = 0; i < 3; i++) await writeTaking(producer, fake, i, 60);
  const short = assert.rejects(
    producer.send(0, message(3), undefined, 80),
    (e) => e instanceof PublishTimeoutError && e.maybeAt === undefined,
  );
  const long = producer.send(0, message(4), undefined, 1_000);
  const write = await fake.next("write");
  assert.deepEqual(write.keys, ["k4"]);
  await short;
  write.answer(4n);
  (await fake.next("commit")).answer();
  assert.equal(await long, 4n);
});

Deno.test("an unconfirmed commit leaves its records in doubt at their offsets", async () => {
  const fake = fakeTransactions();
  const producer = new PartitionedProducer(OPTIONS, fake.factory);
  const sent = [producer.send(0, message(0)), producer.send(0, message(1))];
  (await fake.next("write")).answer(3n);
  (await fake.next("commit")).fail(new Error("COORDINATOR_NOT_AVAILABLE"));
  const reasons = (await Promise.allSettled(sent)).map((s) =>
    s.status === "rejected" ? s.reason : undefined
  );
  assert.deepEqual(reasons.map((r) => r instanceof ProduceFailedError && r.maybeAt), [3n, 4n]);
});

Deno.test("a commit under way at the deadline: in doubt at its offset, and the late outcome is told", async () => {
  const fake = fakeTransactions();
  const producer = new PartitionedProducer(OPTIONS, fake.factory);
  const late = Promise.withResolvers<bigint | Error>();
  const sent = producer.send(0, message(0), late.resolve);
  (await fake.next("write")).answer(9n);
  const commit = await fake.next("commit");
  await assert.rejects(sent, (e) => e instanceof PublishTimeoutError && e.maybeAt === 9n);
  commit.answer();
  assert.equal(await late.promise, 9n);
});

Deno.test("a record whose event was written earlier is not committed; the rest go into the next transaction", async () => {
  const fake = fakeTransactions();
  const asked: bigint[] = [];
  const producer = new PartitionedProducer(OPTIONS, fake.factory, (_, base, messages) => {
    asked.push(base);
    return Promise.resolve(new Set(base === 5n ? [messages.findIndex((m) => m.key === "k0")] : []));
  });
  const copy = assert.rejects(producer.send(0, message(0)), EarlierWriteError);
  const other = producer.send(0, message(1));
  (await fake.next("write")).answer(5n);
  await copy;
  const again = await fake.next("write");
  assert.deepEqual([fake.aborts, again.keys], [[0], ["k1"]]);
  again.answer(8n);
  (await fake.next("commit")).answer();
  assert.equal(await other, 8n);
  assert.deepEqual(asked, [5n, 8n]);
});

Deno.test("with two lanes, a partition writes its next batch while the first one commits", async () => {
  const fake = fakeTransactions();
  const lanes: number[] = [];
  const producer = new PartitionedProducer({ ...OPTIONS, lanes: 2 }, (partition, lane) => {
    lanes.push(lane);
    return fake.factory(partition);
  });
  const first = producer.send(0, message(0));
  (await fake.next("write")).answer(0n);
  const commit = await fake.next("commit");
  const second = producer.send(0, message(1));
  const write = await fake.next("write");
  assert.deepEqual([write.keys, lanes], [["k1"], [0, 1]]);
  write.answer(2n);
  (await fake.next("commit")).answer();
  assert.equal(await second, 2n);
  commit.answer();
  assert.equal(await first, 0n);
});

/** A two-lane producer whose writes say which lane they came from. */
function twoLanes() {
  const fake = fakeTransactions();
  const lanesOfWrites: number[] = [];
  const producer = new PartitionedProducer({ ...OPTIONS, lanes: 2 }, (partition, lane) => {
    const transactions = fake.factory(partition);
    return {
      ...transactions,
      write: (messages) => (lanesOfWrites.push(lane), transactions.write(messages)),
    };
  });
  return { fake, producer, lanesOfWrites };
}

Deno.test("records one after another alternate between the lanes: a producer's last commit rests", async () => {
  const { fake, producer, lanesOfWrites } = twoLanes();
  for (let i = 0; i < 4; i++) {
    const sent = producer.send(0, message(i));
    (await fake.next("write")).answer(BigInt(i));
    (await fake.next("commit")).answer();
    assert.equal(await sent, BigInt(i));
  }
  assert.deepEqual(lanesOfWrites, [0, 1, 0, 1]);
  await producer.close();
});

Deno.test("a lane that just committed hands the records waiting to a rested lane", async () => {
  const { fake, producer, lanesOfWrites } = twoLanes();
  const first = producer.send(0, message(0));
  const write = await fake.next("write");
  // Queued while lane 0 writes; lane 1 takes them only once lane 0 is done, as it was idle first.
  const second = producer.send(0, message(1));
  const early = await fake.next("write");
  early.answer(1n);
  (await fake.next("commit")).answer();
  assert.equal(await second, 1n);
  const third = producer.send(0, message(2));
  write.answer(0n);
  (await fake.next("commit")).answer();
  assert.equal(await first, 0n);
  (await fake.next("write")).answer(2n);
  (await fake.next("commit")).answer();
  assert.equal(await third, 2n);
  assert.deepEqual(lanesOfWrites, [0, 1, 1]);
  await producer.close();
});

Deno.test("the retry of a failed write goes to a healthy lane", async () => {
  const { fake, producer, lanesOfWrites } = twoLanes();
  const first = producer.send(0, message(0));
  (await fake.next("write")).fail(new Error("broker gone"));
  (await fake.next("write")).answer(0n);
  (await fake.next("commit")).answer();
  assert.equal(await first, 0n);
  assert.deepEqual([lanesOfWrites, fake.resets], [[0, 1], [0]]);
  await producer.close();
});

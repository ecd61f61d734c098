import assert from "node:assert/strict";
import {
  PartitionedProducer,
  type PartitionedProducerOptions,
  ProduceFailedError,
  type ProducerClient,
  PublishTimeoutError,
} from "./producer.ts";

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
};

type Send = ProducerClient["send"];
type Sent = Parameters<Send>[0];

/** A fake producer: each `send` waits for the test to answer it. */
function fakeClient() {
  const calls: { options: Sent; answer: (r: unknown) => void; fail: (e: Error) => void }[] = [];
  const client = {
    send:
      ((options: Sent) =>
        new Promise((answer, fail) => calls.push({ options, answer, fail }))) as unknown as Send,
    close: (() => Promise.resolve()) as unknown as ProducerClient["close"],
  };
  const nextCall = async () => {
    while (calls.length === 0) await new Promise((r) => setTimeout(r, 1));
    return calls.shift()!;
  };
  return { client, nextCall };
}

const message = (i: number) => ({ key: `k${i}`, value: `v${i}`, headers: {} });

Deno.test("offsets come from the result for the record's own partition", async () => {
  const { client, nextCall } = fakeClient();
  const producer = new PartitionedProducer(OPTIONS, client);
  const sent = [producer.send(1, message(0)), producer.send(1, message(1))];
  const call = await nextCall();
  assert.deepEqual(call.options.messages.map((m) => [m.partition, m.key]), [[1, "k0"], [1, "k1"]]);
  call.answer({ offsets: [{ topic: "t", partition: 1, offset: 41n }] });
  assert.deepEqual(await Promise.all(sent), [41n, 42n]);
});

Deno.test("a result without the record's partition is a failure, never an offset", async () => {
  const { client, nextCall } = fakeClient();
  const producer = new PartitionedProducer(OPTIONS, client);
  const sent = producer.send(2, message(0));
  (await nextCall()).answer({ offsets: [{ topic: "t", partition: 0, offset: 5n }] });
  await assert.rejects(sent, ProduceFailedError);
});

Deno.test("a partition whose batch hangs holds back only itself; its records time out", async () => {
  const { client, nextCall } = fakeClient();
  const producer = new PartitionedProducer(OPTIONS, client);
  const stuck = producer.send(0, message(0));
  const stuckCall = await nextCall();
  const queued = producer.send(0, message(1));
  const other = producer.send(1, message(2));
  (await nextCall()).answer({ offsets: [{ topic: "t", partition: 1, offset: 0n }] });
  assert.equal(await other, 0n);
  const [first, second] = await Promise.allSettled([stuck, queued]);
  assert.ok(first.status === "rejected" && first.reason instanceof PublishTimeoutError);
  assert.equal(first.reason.sent, true, "the sent record is in doubt");
  assert.ok(second.status === "rejected" && second.reason instanceof PublishTimeoutError);
  assert.equal(second.reason.sent, false, "the queued record was withdrawn");
  stuckCall.answer({ offsets: [{ topic: "t", partition: 0, offset: 7n }] });
  await producer.close();
});

Deno.test("a late answer reaches the record's late handler", async () => {
  const { client, nextCall } = fakeClient();
  const producer = new PartitionedProducer(OPTIONS, client);
  const late = Promise.withResolvers<bigint | Error>();
  const sent = producer.send(0, message(0), late.resolve);
  const call = await nextCall();
  await assert.rejects(sent, PublishTimeoutError);
  call.answer({ offsets: [{ topic: "t", partition: 0, offset: 9n }] });
  assert.equal(await late.promise, 9n);
});

Deno.test("a failed batch rejects every record in it", async () => {
  const { client, nextCall } = fakeClient();
  const producer = new PartitionedProducer(OPTIONS, client);
  const sent = [producer.send(0, message(0)), producer.send(0, message(1))];
  (await nextCall()).fail(new Error("NOT_ENOUGH_REPLICAS"));
  for (const s of sent) await assert.rejects(s, ProduceFailedError);
});

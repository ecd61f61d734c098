import assert from "node:assert/strict";
import { SendQueue, type SendQueueOptions } from "./queue.ts";

/** A transport that buffers what is sent until the test says the client read it. */
function transport() {
  let buffered = 0;
  return {
    buffered: () => buffered,
    send: (bytes: number) => () => void (buffered += bytes),
    read: (bytes = Infinity) => void (buffered = Math.max(0, buffered - bytes)),
  };
}

/** A clock the test moves. */
function clock() {
  let now = 0;
  return { now: () => now, advance: (ms: number) => void (now += ms) };
}

const paced: SendQueueOptions = {
  paced: true,
  maxQueueEvents: 3,
  maxQueueBytes: 1000,
  stallTimeoutMs: 30_000,
};

Deno.test("SendQueue (paced) has no credit at the event mark and says when the client drained", () => {
  const t = transport();
  const queue = new SendQueue(paced, t.buffered, clock().now);
  for (let i = 0; i < 3; i++) {
    assert.ok(queue.writable);
    assert.ok(queue.offer(t.send(10)));
  }
  assert.equal(queue.writable, false);
  assert.equal(queue.poll(), "pending");
  t.read(10);
  assert.equal(queue.poll(), "drained", "one event read: credit for one more");
  assert.ok(queue.writable);
  assert.ok(queue.offer(t.send(10)));
  assert.equal(queue.writable, false);
  t.read();
  assert.equal(queue.poll(), "drained");
  assert.equal(queue.poll(), "idle", "nothing pending: no need to look again");
});

Deno.test("SendQueue (paced) has no credit at the byte mark, and always sends", () => {
  const t = transport();
  const queue = new SendQueue(paced, t.buffered, clock().now);
  assert.ok(queue.offer(t.send(1500), 1500), "a frame over the mark still goes out");
  assert.equal(queue.writable, false);
  t.read(600);
  assert.equal(queue.poll(), "drained");
});

Deno.test("SendQueue (paced) reports a stall only after the timeout without progress", () => {
  const t = transport();
  const c = clock();
  const queue = new SendQueue(paced, t.buffered, c.now);
  c.advance(60_000); // idle time before the first send does not count
  queue.offer(t.send(10));
  c.advance(29_999);
  assert.equal(queue.poll(), "pending");
  t.read(5);
  c.advance(29_999);
  assert.equal(queue.poll(), "pending", "reading a little is progress");
  c.advance(29_999);
  assert.equal(queue.poll(), "pending");
  c.advance(1);
  assert.equal(queue.poll(), "stalled");
  t.read();
  assert.equal(queue.poll(), "idle");
});

Deno.test("SendQueue (paced) counts control frames as pending bytes, not as events", () => {
  const t = transport();
  const c = clock();
  const queue = new SendQueue(paced, t.buffered, c.now);
  for (let i = 0; i < 5; i++) queue.control(t.send(10));
  assert.ok(queue.writable);
  c.advance(30_000);
  assert.equal(queue.poll(), "stalled", "a client that reads not even heartbeats is stalled");
});

Deno.test("SendQueue (bounded) refuses what does not fit, never stalls, and always has credit", () => {
  const t = transport();
  const c = clock();
  const queue = new SendQueue({ ...paced, paced: false }, t.buffered, c.now);
  for (let i = 0; i < 3; i++) assert.ok(queue.offer(t.send(10), 10));
  assert.ok(queue.writable);
  assert.equal(queue.offer(t.send(10), 10), false, "a fourth event overflows");
  t.read(10);
  assert.ok(queue.offer(t.send(10), 10), "retired events make room");
  assert.equal(queue.offer(t.send(990), 990), false, "so do too many bytes");
  c.advance(60_000);
  assert.equal(queue.poll(), "pending");
});

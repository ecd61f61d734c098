import assert from "node:assert/strict";
import { Delivery } from "../../subscribe/delivery.ts";
import { ROOT_CONTEXT } from "../../telemetry/tracing.ts";
import type { Meter } from "./meter.ts";
import { Pacer } from "./pacer.ts";
import type { Ticker } from "./ticker.ts";

/** A meter that records what it was told, and a ticker the test ticks by hand. */
function fakes() {
  const told: string[] = [];
  const meter = {
    delivered: () => told.push("delivered"),
    slow: (why: string) => told.push(`slow:${why}`),
  } as unknown as Meter;
  const ticks = new Set<() => void>();
  const ticker = {
    add: (tick: () => void) => {
      ticks.add(tick);
      return () => ticks.delete(tick);
    },
  } as unknown as Ticker;
  const tick = () => [...ticks].forEach((t) => t());
  return { told, meter, ticker, ticks, tick };
}

const delivery = new Delivery(
  { event_id: "e", event_type: "T", timestamp: "", version: "v1", data: {} },
  "{}",
  undefined,
  undefined,
  { headers: {}, context: ROOT_CONTEXT },
);

Deno.test("Pacer: a paced subscriber loses credit while bytes wait, and is told when they drain", () => {
  const { told, meter, ticker, ticks, tick } = fakes();
  let buffered = 0;
  const pacer = new Pacer(
    { paced: true, maxQueueEvents: 10, maxQueueBytes: 100, stallTimeoutMs: 60_000 },
    () => buffered,
    meter,
    ticker,
    () => told.push("stall"),
  );
  let drained = 0;
  pacer.onDrain(() => drained++);
  assert.ok(pacer.offer(delivery, 150, () => buffered += 150));
  assert.equal(pacer.writable, false, "over the byte budget: no credit");
  assert.equal(ticks.size, 1, "polled while frames are pending");
  buffered = 0;
  tick();
  assert.equal(drained, 1);
  assert.equal(pacer.writable, true);
  tick();
  assert.equal(ticks.size, 0, "nothing pending: no more polling");
  assert.deepEqual(told, ["delivered"]);
});

Deno.test("Pacer: a live subscriber's full queue is an overflow; a durable one that reads nothing stalls", () => {
  const live = fakes();
  const bounded = new Pacer(
    { paced: false, maxQueueEvents: 1, maxQueueBytes: 100, stallTimeoutMs: 60_000 },
    () => 10,
    live.meter,
    live.ticker,
    () => live.told.push("stall"),
  );
  assert.ok(bounded.offer(delivery, 10, () => {}));
  assert.equal(bounded.offer(delivery, 10, () => {}), false);
  assert.deepEqual(live.told, ["delivered", "slow:overflow"]);

  const durable = fakes();
  const paced = new Pacer(
    { paced: true, maxQueueEvents: 10, maxQueueBytes: 100, stallTimeoutMs: 0 },
    () => 10,
    durable.meter,
    durable.ticker,
    () => durable.told.push("stall"),
  );
  paced.offer(delivery, 10, () => {});
  durable.tick();
  assert.deepEqual(durable.told, ["delivered", "slow:stalled", "stall"]);
  paced.stop();
  assert.equal(durable.ticks.size, 0);
});

Deno.test("Pacer: a stall is decided once, and a pacer that stopped is never polled again", () => {
  const { told, meter, ticker, ticks, tick } = fakes();
  const pacer = new Pacer(
    { paced: true, maxQueueEvents: 10, maxQueueBytes: 100, stallTimeoutMs: 0 },
    () => 10,
    meter,
    ticker,
    // A transport whose stream already ended does nothing about the stall.
    () => told.push("stall"),
  );
  pacer.offer(delivery, 10, () => {});
  tick();
  tick();
  tick();
  assert.deepEqual(told, ["delivered", "slow:stalled", "stall"], "one decision, counted once");
  assert.equal(ticks.size, 0);
  // A send that ends the subscription from inside it (the stream cancelled as the frame goes
  // out) stops the pacer before the send returns: it must not start polling again.
  const inner = fakes();
  const ending = new Pacer(
    { paced: true, maxQueueEvents: 10, maxQueueBytes: 100, stallTimeoutMs: 0 },
    () => 10,
    inner.meter,
    inner.ticker,
    () => inner.told.push("stall"),
  );
  ending.offer(delivery, 10, () => ending.stop());
  assert.equal(inner.ticks.size, 0, "not polled after the end");
  inner.tick();
  assert.deepEqual(inner.told, ["delivered"]);
});

import assert from "node:assert/strict";
import { FakeClock } from "./fake_clock.ts";

Deno.test("FakeClock fires timers in due order as time moves, repeats intervals, forgets cleared ones", async () => {
  const clock = new FakeClock(0);
  const fired: string[] = [];
  clock.setTimeout(() => fired.push(`b@${clock.now()}`), 20);
  clock.setTimeout(() => fired.push(`a@${clock.now()}`), 10);
  const every = clock.setInterval(() => fired.push(`i@${clock.now()}`), 15);
  const cleared = clock.setTimeout(() => fired.push("never"), 5);
  clock.clearTimeout(cleared);
  await clock.tick(30);
  assert.deepEqual(fired, ["a@10", "i@15", "b@20", "i@30"]);
  assert.equal(clock.now(), 30);
  clock.clearInterval(every);
  assert.equal(clock.pending, 0);
});

Deno.test("FakeClock runs what a timer's promise settles before the next timer", async () => {
  const clock = new FakeClock(0);
  const order: string[] = [];
  clock.setTimeout(() => Promise.resolve().then(() => order.push("follow-up")), 1);
  clock.setTimeout(() => order.push("second"), 2);
  await clock.tick(2);
  assert.deepEqual(order, ["follow-up", "second"]);
});

import assert from "node:assert/strict";
import { formatLoad, loadBetween, machineSampler, parseCpuTimes } from "./machine.ts";

/** A `/proc/stat` as Linux writes it: the aggregate line, then one per core. */
const stat = (user: number, idle: number, steal: number) =>
  [
    `cpu  ${user} 10 20 ${idle} 5 0 15 ${steal} 0 0`,
    `cpu0 1 2 3 4 5 6 7 8 0 0`,
    `intr 12345`,
  ].join("\n");

Deno.test("parseCpuTimes sums busy and idle fields and reads steal", () => {
  assert.deepEqual(parseCpuTimes(stat(100, 400, 30)), { busy: 145, idle: 405, steal: 30 });
});

Deno.test("parseCpuTimes reads a kernel without a steal field as none", () => {
  assert.deepEqual(parseCpuTimes("cpu  1 2 3 4 5 6 7\n"), { busy: 19, idle: 9, steal: 0 });
});

Deno.test("parseCpuTimes refuses a text without the aggregate line", () => {
  assert.throws(() => parseCpuTimes("cpu0 1 2 3 4\n"), /no aggregate cpu line/);
});

Deno.test("loadBetween gives each share of all the time between two readings", () => {
  const before = parseCpuTimes(stat(100, 400, 30));
  // 60 busy, 30 idle, 10 stolen: 100 ticks.
  const after = parseCpuTimes(stat(160, 430, 40));
  assert.deepEqual(loadBetween(before, after), { busy: 0.6, steal: 0.1 });
  assert.equal(formatLoad(loadBetween(before, after)), "machine: 60% busy, 10% steal");
});

Deno.test("loadBetween of no elapsed ticks is zero, not NaN", () => {
  const same = parseCpuTimes(stat(100, 400, 30));
  assert.deepEqual(loadBetween(same, same), { busy: 0, steal: 0 });
});

Deno.test("machineSampler measures this machine between two calls", async () => {
  const sample = await machineSampler();
  const end = performance.now() + 100;
  while (performance.now() < end) {
    // Busy: the interval cannot be all idle.
  }
  const load = await sample();
  if (load === undefined) return; // not Linux
  assert.ok(load.busy > 0 && load.busy <= 1, `busy ${load.busy}`);
  assert.ok(load.steal >= 0 && load.steal <= 1, `steal ${load.steal}`);
});

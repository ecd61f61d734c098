import assert from "node:assert/strict";
import client from "prom-client";
import { PROC_SELF, ProcessMetrics } from "./process_metrics.ts";

const PREFIX = "t_";

/** Each metric's type and (label-less) value after an update. */
async function scrape(
  metrics: ProcessMetrics,
  registry: client.Registry,
): Promise<Map<string, { type: string; value: number }>> {
  await metrics.update();
  const json = await registry.getMetricsAsJSON();
  return new Map(json.map((m) => [m.name, { type: String(m.type), value: m.values[0].value }]));
}

/** A directory shaped like `/proc/self` with `fds` entries in `fd/` and an open-files limit. */
async function fakeProc(fds: number, limit: number): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "proc-self-" });
  await Deno.mkdir(`${dir}/fd`);
  for (let fd = 0; fd < fds; fd++) await Deno.writeTextFile(`${dir}/fd/${fd}`, "");
  await Deno.writeTextFile(
    `${dir}/limits`,
    "Limit                     Soft Limit           Hard Limit           Units     \n" +
      "Max processes             63704                63704                processes \n" +
      `Max open files            ${limit}                 524288               files     \n`,
  );
  return dir;
}

const hasProc = Deno.build.os === "linux";

Deno.test({
  name: "ProcessMetrics reads this process's real memory, heap, CPU and file descriptors",
  ignore: !hasProc,
  async fn() {
    const registry = new client.Registry();
    const metrics = new ProcessMetrics(registry, PREFIX, PROC_SELF);
    const m = await scrape(metrics, registry);
    const value = (name: string) => m.get(PREFIX + name)?.value ?? NaN;
    assert.ok(value("process_resident_memory_bytes") > 1_000_000);
    assert.ok(value("nodejs_heap_size_used_bytes") > 0);
    assert.ok(value("nodejs_heap_size_total_bytes") >= value("nodejs_heap_size_used_bytes"));
    assert.ok(value("nodejs_external_memory_bytes") >= 0);
    assert.ok(value("process_open_fds") >= 3, "stdin, stdout and stderr at least");
    assert.ok(value("process_max_fds") >= value("process_open_fds"));
    assert.ok(value("process_cpu_user_seconds_total") > 0);
    assert.ok(
      Math.abs(
        value("process_cpu_seconds_total") -
          value("process_cpu_user_seconds_total") - value("process_cpu_system_seconds_total"),
      ) < 1e-9,
    );
    const now = Date.now() / 1000;
    const start = value("process_start_time_seconds");
    assert.ok(start <= now && start > now - 3600, `start time ${start}, now ${now}`);
    assert.ok(value("nodejs_eventloop_lag_seconds") >= 0);
  },
});

Deno.test("ProcessMetrics types: counters end in _total, gauges never do", async () => {
  const registry = new client.Registry();
  const m = await scrape(new ProcessMetrics(registry, PREFIX), registry);
  assert.ok(m.size >= 9, [...m.keys()].join(", "));
  for (const [name, { type }] of m) {
    assert.equal(type, name.endsWith("_total") ? "counter" : "gauge", name);
  }
});

Deno.test("ProcessMetrics CPU counters carry the running total, never reset to 0", async () => {
  const registry = new client.Registry();
  const metrics = new ProcessMetrics(registry, PREFIX);
  const cpu = async () =>
    (await scrape(metrics, registry)).get(`${PREFIX}process_cpu_seconds_total`)!.value;
  const first = await cpu();
  const busyUntil = performance.now() + 20;
  while (performance.now() < busyUntil) { /* burn CPU */ }
  const second = await cpu();
  assert.ok(first > 0);
  assert.ok(second > first, `${second} > ${first}`);
});

Deno.test("ProcessMetrics counts fd/ entries but its own listing's, and reads the soft limit", async () => {
  // 4 entries: in a real /proc/self one of them is the descriptor listing fd/.
  const dir = await fakeProc(4, 1024);
  try {
    const registry = new client.Registry();
    const metrics = new ProcessMetrics(registry, PREFIX, dir);
    let m = await scrape(metrics, registry);
    assert.equal(m.get(`${PREFIX}process_open_fds`)?.value, 3);
    assert.equal(m.get(`${PREFIX}process_max_fds`)?.value, 1024);
    // A file that can no longer be read keeps the last value rather than dropping to 0.
    await Deno.remove(`${dir}/limits`);
    await Deno.remove(`${dir}/fd/3`);
    m = await scrape(metrics, registry);
    assert.equal(m.get(`${PREFIX}process_open_fds`)?.value, 2);
    assert.equal(m.get(`${PREFIX}process_max_fds`)?.value, 1024);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("ProcessMetrics exposes no file-descriptor gauges without /proc, rather than zeros", async () => {
  const dir = await Deno.makeTempDir({ prefix: "no-proc-" });
  try {
    const registry = new client.Registry();
    const m = await scrape(new ProcessMetrics(registry, PREFIX, `${dir}/missing`), registry);
    assert.equal(m.has(`${PREFIX}process_open_fds`), false);
    assert.equal(m.has(`${PREFIX}process_max_fds`), false);
    assert.ok(m.get(`${PREFIX}process_resident_memory_bytes`)!.value > 0);
  } finally {
    await Deno.remove(dir);
  }
});

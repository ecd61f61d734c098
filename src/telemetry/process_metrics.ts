/**
 * The gateway process's own metrics (memory, heap, CPU, file descriptors,
 * event-loop lag), read from Deno's APIs and Linux's `/proc` at each scrape.
 * prom-client's `collectDefaultMetrics` is not used: under Deno it reads
 * through Node.js shims (issue 8 saw zeros) and names gauges `*_total`, which
 * `promtool check metrics` rejects. The `nodejs_*` names are kept for the
 * dashboards that chart them.
 *
 * @module
 */
import process from "node:process";
import { setImmediate } from "node:timers";
import client from "prom-client";
import { PROC_SELF, ProcFileDescriptors } from "./file_descriptors.ts";

export { PROC_SELF };
const MICROSECONDS_PER_SECOND = 1e6;
const MILLISECONDS_PER_SECOND = 1e3;

/** Sets a counter to a cumulative total that the OS keeps (a counter can only be incremented). */
function setCounter(counter: client.Counter, total: number): void {
  counter.reset();
  counter.inc(total);
}

/**
 * Seconds until an immediate callback runs: the work queued ahead of it in
 * the event loop (how prom-client measures it on Node.js, and with no timer's
 * millisecond floor; Deno's `monitorEventLoopDelay` does not see blocking).
 */
async function eventLoopLagSeconds(): Promise<number> {
  const start = performance.now();
  await new Promise((resolve) => setImmediate(resolve));
  return (performance.now() - start) / MILLISECONDS_PER_SECOND;
}

/**
 * Registers the process metrics on `registry` with names prefixed by
 * `prefix`; {@link ProcessMetrics.update} refreshes them before a scrape.
 * The file-descriptor gauges exist only where `procDir` (Linux's
 * `/proc/self`) can be read, rather than reading 0 elsewhere.
 */
export class ProcessMetrics {
  readonly #residentMemory: client.Gauge;
  readonly #heapUsed: client.Gauge;
  readonly #heapTotal: client.Gauge;
  readonly #externalMemory: client.Gauge;
  readonly #cpuUser: client.Counter;
  readonly #cpuSystem: client.Counter;
  readonly #cpu: client.Counter;
  readonly #eventLoopLag: client.Gauge;
  readonly #fds?: { counts: ProcFileDescriptors; open: client.Gauge; max: client.Gauge };

  constructor(registry: client.Registry, prefix: string, procDir = PROC_SELF) {
    const registers = [registry];
    const gauge = (name: string, help: string) =>
      new client.Gauge({ name: prefix + name, help, registers });
    const counter = (name: string, help: string) =>
      new client.Counter({ name: prefix + name, help, registers });
    this.#cpuUser = counter("process_cpu_user_seconds_total", "User CPU time spent, in seconds.");
    this.#cpuSystem = counter(
      "process_cpu_system_seconds_total",
      "System CPU time spent, in seconds.",
    );
    this.#cpu = counter("process_cpu_seconds_total", "User and system CPU time spent, in seconds.");
    gauge(
      "process_start_time_seconds",
      "Start time of the process since the Unix epoch, in seconds.",
    )
      .set(performance.timeOrigin / MILLISECONDS_PER_SECOND);
    this.#residentMemory = gauge(
      "process_resident_memory_bytes",
      "Resident memory size, in bytes.",
    );
    const counts = new ProcFileDescriptors(procDir);
    if (counts.available) {
      this.#fds = {
        counts,
        open: gauge("process_open_fds", "Open file descriptors."),
        max: gauge("process_max_fds", "Soft limit on open file descriptors."),
      };
    }
    this.#heapUsed = gauge("nodejs_heap_size_used_bytes", "JavaScript heap used, in bytes.");
    this.#heapTotal = gauge("nodejs_heap_size_total_bytes", "JavaScript heap allocated, in bytes.");
    this.#externalMemory = gauge(
      "nodejs_external_memory_bytes",
      "Memory of objects outside the JavaScript heap bound to JavaScript objects, in bytes.",
    );
    this.#eventLoopLag = gauge(
      "nodejs_eventloop_lag_seconds",
      "Time an immediate callback waited for the event loop at the scrape, in seconds.",
    );
  }

  /** Reads every value anew. A `/proc` file that fails to read keeps its gauge's last value. */
  async update(): Promise<void> {
    const memory = Deno.memoryUsage();
    this.#residentMemory.set(memory.rss);
    this.#heapUsed.set(memory.heapUsed);
    this.#heapTotal.set(memory.heapTotal);
    this.#externalMemory.set(memory.external);
    const cpu = process.cpuUsage();
    setCounter(this.#cpuUser, cpu.user / MICROSECONDS_PER_SECOND);
    setCounter(this.#cpuSystem, cpu.system / MICROSECONDS_PER_SECOND);
    setCounter(this.#cpu, (cpu.user + cpu.system) / MICROSECONDS_PER_SECOND);
    await Promise.all([
      this.#updateFds(),
      eventLoopLagSeconds().then((s) => this.#eventLoopLag.set(s)),
    ]);
  }

  async #updateFds(): Promise<void> {
    if (!this.#fds) return;
    const { counts, open, max } = this.#fds;
    try {
      open.set(await counts.open());
    } catch { /* keeps the last value */ }
    try {
      const limit = await counts.softLimit();
      if (limit !== undefined) max.set(limit);
    } catch { /* keeps the last value */ }
  }
}

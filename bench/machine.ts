/**
 * What the machine did while a benchmark section ran: how busy its cores
 * were, and how much time the hypervisor took from them (steal). On a shared
 * virtual machine steal comes and goes by the hour (0-2% on a quiet one,
 * 23-31% measured during Kafka runs), and every figure of a section measured
 * under it is slower by about as much; the benchmark prints it beside each
 * section so that a MISS can be told from a bad hour.
 *
 * @example
 * ```ts
 * import { machineSampler } from "./machine.ts";
 *
 * const sample = await machineSampler();
 * // ... run a section ...
 * const load = await sample();
 * console.log(`${(load.busy * 100).toFixed(0)}% busy, ${(load.steal * 100).toFixed(0)}% steal`);
 * ```
 *
 * @module
 */

/** The aggregate `cpu` line of `/proc/stat`, in clock ticks. */
export interface CpuTimes {
  /** Ticks spent running anything (user, nice, system, irq, softirq). */
  busy: number;
  /** Ticks spent idle or waiting for I/O. */
  idle: number;
  /** Ticks the hypervisor ran something else while this machine wanted a core. */
  steal: number;
}

/** Shares of all cores' time over an interval: busy, and taken by the hypervisor. */
export interface MachineLoad {
  /** Share of the cores' time spent running (0-1). */
  busy: number;
  /** Share of the cores' time stolen by the hypervisor (0-1). */
  steal: number;
}

/**
 * The aggregate CPU times of a `/proc/stat` text (see proc(5): user, nice,
 * system, idle, iowait, irq, softirq, steal; guest time is inside user).
 *
 * @throws {Error} when the text has no aggregate `cpu` line.
 */
export function parseCpuTimes(procStat: string): CpuTimes {
  const line = procStat.split("\n").find((l) => /^cpu\s/.test(l));
  if (!line) throw new Error("/proc/stat has no aggregate cpu line");
  const [user, nice, system, idle, iowait, irq, softirq, steal = 0] = line.trim().split(/\s+/)
    .slice(1).map(Number);
  return { busy: user + nice + system + irq + softirq, idle: idle + iowait, steal };
}

/** The shares of time between two readings. */
export function loadBetween(before: CpuTimes, after: CpuTimes): MachineLoad {
  const busy = after.busy - before.busy;
  const steal = after.steal - before.steal;
  const total = busy + steal + after.idle - before.idle;
  return total > 0 ? { busy: busy / total, steal: steal / total } : { busy: 0, steal: 0 };
}

/** `"machine: 85% busy, 27% steal"`: a section's load, as printed after its figures. */
export function formatLoad(load: MachineLoad): string {
  return `machine: ${(load.busy * 100).toFixed(0)}% busy, ${(load.steal * 100).toFixed(0)}% steal`;
}

/**
 * Starts measuring; the returned function gives the load since, or `undefined`
 * where there is no `/proc/stat` (not Linux).
 */
export async function machineSampler(): Promise<() => Promise<MachineLoad | undefined>> {
  const read = () => Deno.readTextFile("/proc/stat").then(parseCpuTimes, () => undefined);
  const before = await read();
  return async () => {
    const after = await read();
    return before && after ? loadBetween(before, after) : undefined;
  };
}

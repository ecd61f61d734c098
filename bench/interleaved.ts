/**
 * Compares gateways that differ in one setting (credentials, tracing) on
 * publish at c=64: every gateway runs at once, their wrk runs are
 * interleaved round by round (each round starting with another one), and
 * each is measured in events/s and in the gateway's CPU time per publish
 * (from `/proc/<pid>/stat`). Ratios are taken within a round, then the
 * median: on a shared machine wall-clock throughput swings by about 10%
 * between identical gateways measured one after the other, while the CPU a
 * publish costs stays put.
 *
 * @module
 */
import type { GatewayProcess } from "../testing/harness.ts";
import { median, wrk } from "./wrk.ts";

/** Clock ticks per second of `/proc/<pid>/stat`'s CPU times (`getconf CLK_TCK` on Linux). */
const CLOCK_TICKS = 100;

/** CPU seconds (user + system) process `pid` has used so far. */
export async function cpuSeconds(pid: number): Promise<number> {
  const stat = await Deno.readTextFile(`/proc/${pid}/stat`);
  // Fields after the command name: state is the 3rd of stat(5), utime the 14th, stime the 15th.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
}

/** One gateway of the comparison, and the `Authorization` its publishes carry. */
export interface Contender {
  /** Its name in the results. */
  name: string;
  /** The running gateway, or a baseline server that answers the same `POST`. */
  gateway: Pick<GatewayProcess, "url" | "pid">;
  /** The `Authorization` header of each publish, if any. */
  authorization?: string;
}

/** How long and how often to measure. */
export interface InterleavedOptions {
  /** Seconds per run. */
  seconds: number;
  /** Runs of each contender. */
  repeats: number;
}

/** Seconds per run of a comparison, unless `BENCH_COMPARE_SECONDS` says otherwise. */
export const DEFAULT_COMPARE_SECONDS = 2;
/** Runs of each contender in a comparison, unless `BENCH_COMPARE_ROUNDS` says otherwise. */
export const DEFAULT_COMPARE_ROUNDS = 15;

/**
 * How comparisons run: many short rounds. Four identical embedded gateways,
 * interleaved, differed in CPU per publish by up to 21% over 3 rounds of 5 s
 * and by at most 8% over 15 rounds of 2 s, on a shared 2-core machine.
 */
export function comparisonOptions(
  env: Record<string, string | undefined> = Deno.env.toObject(),
): InterleavedOptions {
  return {
    seconds: Number(env.BENCH_COMPARE_SECONDS ?? DEFAULT_COMPARE_SECONDS),
    repeats: Number(env.BENCH_COMPARE_ROUNDS ?? DEFAULT_COMPARE_ROUNDS),
  };
}

/** A contender's figures: medians, and its ratios to the first contender. */
export interface Standing {
  /** Median events/s. */
  rate: number;
  /** Median per round of its events/s over the first contender's. */
  rateRatio: number;
  /** Median per round of the first contender's CPU per publish over its own. */
  cpuRatio: number;
}

/**
 * Publishes at c=64 to each contender `repeats` times, interleaved, and
 * returns each one's {@linkcode Standing} against the first. A run with a
 * failed publish throws.
 */
export async function interleaved(
  contenders: readonly Contender[],
  { seconds, repeats }: InterleavedOptions,
): Promise<Map<string, Standing>> {
  const run = async ({ gateway, authorization }: Contender, connections: number) => {
    const cpuBefore = await cpuSeconds(gateway.pid);
    const r = await wrk(`${gateway.url}/v1/identifications`, connections, {
      seconds,
      post: true,
      authorization,
    });
    if (r.failed > 0) throw new Error(`${r.failed} publishes failed at ${gateway.url}`);
    return { rate: r.rate, cpu: (await cpuSeconds(gateway.pid) - cpuBefore) / (r.rate * seconds) };
  };
  const rates = contenders.map(() => [] as number[]);
  const cpus = contenders.map(() => [] as number[]);
  // Warm-up: JIT, connections, caches.
  for (const contender of contenders) await run(contender, 16);
  for (let i = 0; i < repeats; i++) {
    for (let j = 0; j < contenders.length; j++) {
      const k = (i + j) % contenders.length;
      const { rate, cpu } = await run(contenders[k], 64);
      rates[k].push(rate);
      cpus[k].push(cpu);
    }
  }
  return new Map(contenders.map(({ name }, k) => [name, {
    rate: median(rates[k]),
    rateRatio: median(rates[k].map((r, i) => r / rates[0][i])),
    cpuRatio: median(cpus[k].map((c, i) => cpus[0][i] / c)),
  }]));
}

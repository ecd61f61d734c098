/**
 * Closed-loop HTTP load with wrk: a GET, or `bench/post.lua` POSTing one
 * `CustomerIdentified` body (with an `Authorization` header when given), and
 * the median of repeated runs.
 *
 * @module
 */
import { CUSTOMER_IDENTIFIED } from "../src/events/customer_identified.ts";

/** The body of a POST, for the example's customer (`post.lua` sends it for each customer). */
const BODY = JSON.stringify(CUSTOMER_IDENTIFIED.versions.v1.example);
/**
 * Customers the benchmark's publishes name in turn, unless `BENCH_CUSTOMERS`
 * says otherwise: the partition key is the customer, so with one customer
 * every event would go to one partition, as no real restaurant's guests do.
 */
export const CUSTOMERS = Number(Deno.env.get("BENCH_CUSTOMERS") ?? 500);

/** The body of the `i`-th publish: the example, for customer `cust<i mod CUSTOMERS>`. */
export function bodyFor(i: number): string {
  return JSON.stringify({
    ...CUSTOMER_IDENTIFIED.versions.v1.example,
    customer_id: `cust${i % CUSTOMERS}`,
  });
}
const ROOT = new URL("..", import.meta.url).pathname;

/**
 * Settings of a gateway under a throughput run: the per-caller publish limit
 * (10,000/s by default, one caller here) out of the way, so the run measures
 * the gateway and not its limiter.
 */
export const NO_PUBLISH_LIMIT: Readonly<Record<string, string>> = {
  TASTESYNC_AUTH_LIMITS_PUBLISH_PER_SECOND: "1000000",
  TASTESYNC_AUTH_LIMITS_PUBLISH_BURST: "1000000",
};

/** One wrk run: successful requests per second, latency percentiles (ms), failures. */
export interface Run {
  rate: number;
  p50: number;
  p99: number;
  p999: number;
  failed: number;
}

/** Options of {@linkcode wrk}. */
export interface WrkOptions {
  /** How long to run, in seconds. */
  seconds: number;
  /** POST the body with `bench/post.lua` (else GET). */
  post: boolean;
  /** The `Authorization` header of each POST. */
  authorization?: string;
}

/** Runs wrk with `connections` against `url`. */
export async function wrk(url: string, connections: number, options: WrkOptions): Promise<Run> {
  const args = ["-t1", `-c${connections}`, `-d${options.seconds}s`, "--timeout", "10s"];
  if (options.post) args.push("-s", `${ROOT}bench/post.lua`);
  const out = await new Deno.Command("wrk", {
    args: [...args, url],
    env: {
      BENCH_BODY: BODY,
      BENCH_CUSTOMERS: String(CUSTOMERS),
      BENCH_AUTHORIZATION: options.authorization ?? "",
    },
  }).output();
  const text = new TextDecoder().decode(out.stdout);
  if (!options.post) {
    const rate = Number(text.match(/Requests\/sec:\s+([\d.]+)/)?.[1]);
    return { rate, p50: 0, p99: 0, p999: 0, failed: 0 };
  }
  const line = text.split("\n").find((l) => l.startsWith("{"));
  if (!line) {
    throw new Error(`wrk printed no summary:\n${text}${new TextDecoder().decode(out.stderr)}`);
  }
  const s = JSON.parse(line);
  return {
    rate: (s.requests - s.non2xx) / (s.duration_us / 1e6),
    p50: s.p50_us / 1000,
    p99: s.p99_us / 1000,
    p999: s.p999_us / 1000,
    failed: s.non2xx + s.socket_errors,
  };
}

/** The `q` quantile (0-1) of `sorted`, ascending: the value at rank `floor(q * n)`. */
export function quantile(sorted: readonly number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}

/** The median of `xs` (the upper one of an even count). */
export function median(xs: number[]): number {
  return [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
}

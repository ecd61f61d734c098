/**
 * The cost of authentication on the publish path: `POST /v1/identifications`
 * at concurrency 64 on three gateways alike but for authentication: one
 * without credentials (`auth.mode: none`), one with `auth.mode: required` and
 * an API key, one with an ES256 JWT (verified against a JWKS file, then
 * served from the verified-token cache). Each has a log of its own, and the
 * runs are interleaved (each round in another order), so drift (log growth,
 * a noisy neighbour) hits all three alike; each figure is the median.
 *
 * Run alone: `deno run -A bench/auth.ts` (both backends when Kafka is up).
 *
 * @module
 */
import {
  type GatewayProcess,
  KAFKA_BROKERS,
  startGateway,
  uniqueTopic,
} from "../testing/harness.ts";
import {
  apiKeysFile,
  jwksOf,
  signingKey,
  signToken,
  TEST_AUDIENCE,
  TEST_ISSUER,
} from "../testing/tokens.ts";
import { median, NO_PUBLISH_LIMIT, wrk } from "./wrk.ts";

/** Throughput wanted with a credential, as a share of the throughput without. */
export const AUTH_TARGETS = { apiKey: 0.95, jwt: 0.90 } as const;

/**
 * Events per second at c=64 without credentials, with an API key, and with a
 * JWT (medians), and the ratios to none: the median of each round's ratio, so
 * drift between rounds cancels.
 */
export interface AuthCost {
  none: number;
  apiKey: number;
  jwt: number;
  apiKeyRatio: number;
  jwtRatio: number;
  /**
   * The gateway's CPU time per publish without credentials over that with an
   * API key (median per round): the throughput share a CPU-bound process
   * keeps. Unlike the wall-clock ratio it does not swing with what else the
   * machine runs.
   */
  apiKeyCpuRatio: number;
  /** The same for the ES256 JWT. */
  jwtCpuRatio: number;
}

/** Clock ticks per second of `/proc/<pid>/stat`'s CPU times (`getconf CLK_TCK` on Linux). */
const CLOCK_TICKS = 100;

/** CPU seconds (user + system) process `pid` has used so far. */
async function cpuSeconds(pid: number): Promise<number> {
  const stat = await Deno.readTextFile(`/proc/${pid}/stat`);
  // Fields after the command name: state is the 3rd of stat(5), utime the 14th, stime the 15th.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
}

type Variant = "none" | "apiKey" | "jwt";

/** How long and how often to measure. */
export interface AuthCostOptions {
  /** Seconds per run. */
  seconds: number;
  /** Runs of each variant. */
  repeats: number;
}

/** The backends to measure, by name, each with a fresh environment per gateway. */
export function authBackends(kafka: boolean): [string, () => Promise<Record<string, string>>][] {
  const backends: [string, () => Promise<Record<string, string>>][] = [[
    "embedded",
    async () => ({ TASTESYNC_DATA_DIR: await Deno.makeTempDir({ prefix: "tastesync-bench-" }) }),
  ]];
  if (kafka) {
    backends.push(["kafka", () =>
      Promise.resolve({
        TASTESYNC_KAFKA_BROKERS: KAFKA_BROKERS,
        TASTESYNC_KAFKA_TOPIC: uniqueTopic("bench-auth"),
      })]);
  }
  return backends;
}

/** Measures {@linkcode AuthCost} on gateways with the environment `env` gives (fresh each call). */
export async function authCost(
  env: () => Promise<Record<string, string>>,
  { seconds, repeats }: AuthCostOptions,
): Promise<AuthCost> {
  const signer = await signingKey("ES256");
  const jwksFile = await Deno.makeTempFile({ suffix: ".json" });
  await Deno.writeTextFile(jwksFile, JSON.stringify(jwksOf(signer)));
  const keys = await apiKeysFile([{ id: "bench", scopes: ["publish:*"] }]);
  const jwt = await signToken(signer, { sub: "bench", scope: "publish:*" });
  const required = { TASTESYNC_AUTH_MODE: "required", ...NO_PUBLISH_LIMIT };
  const gateways = await Promise.all([
    startGateway({ ...await env(), ...NO_PUBLISH_LIMIT }),
    startGateway({ ...await env(), ...required, TASTESYNC_AUTH_API_KEYS_FILE: keys.path }),
    startGateway({
      ...await env(),
      ...required,
      TASTESYNC_AUTH_ISSUER: TEST_ISSUER,
      TASTESYNC_AUTH_AUDIENCE: TEST_AUDIENCE,
      TASTESYNC_AUTH_JWKS_FILE: jwksFile,
    }),
  ]);
  const [open, keyed, jwtGateway] = gateways;
  const variants: [Variant, GatewayProcess, string | undefined][] = [
    ["none", open, undefined],
    ["apiKey", keyed, `Bearer ${keys.keys.bench}`],
    ["jwt", jwtGateway, `Bearer ${jwt}`],
  ];
  const rates: Record<Variant, number[]> = { none: [], apiKey: [], jwt: [] };
  const cpuPerEvent: Record<Variant, number[]> = { none: [], apiKey: [], jwt: [] };
  const run = async (gateway: GatewayProcess, connections: number, authorization?: string) => {
    const cpuBefore = await cpuSeconds(gateway.pid);
    const r = await wrk(`${gateway.url}/v1/identifications`, connections, {
      seconds,
      post: true,
      authorization,
    });
    if (r.failed > 0) throw new Error(`${r.failed} publishes failed at ${gateway.url}`);
    return { rate: r.rate, cpu: (await cpuSeconds(gateway.pid) - cpuBefore) / (r.rate * seconds) };
  };
  try {
    // Warm-up: JIT, connections, the verified-token cache.
    for (const [, gateway, authorization] of variants) await run(gateway, 16, authorization);
    for (let i = 0; i < repeats; i++) {
      // Each round starts with another variant, so none of them is always first.
      for (let j = 0; j < variants.length; j++) {
        const [name, gateway, authorization] = variants[(i + j) % variants.length];
        const { rate, cpu } = await run(gateway, 64, authorization);
        rates[name].push(rate);
        cpuPerEvent[name].push(cpu);
      }
    }
  } finally {
    await Promise.all(gateways.map((g) => g.stop()));
    await Promise.all([Deno.remove(jwksFile), Deno.remove(keys.path)]);
  }
  const ratios = (variant: Variant) => median(rates[variant].map((r, i) => r / rates.none[i]));
  const cpuRatios = (variant: Variant) =>
    median(cpuPerEvent[variant].map((c, i) => cpuPerEvent.none[i] / c));
  return {
    none: median(rates.none),
    apiKey: median(rates.apiKey),
    jwt: median(rates.jwt),
    apiKeyRatio: ratios("apiKey"),
    jwtRatio: ratios("jwt"),
    apiKeyCpuRatio: cpuRatios("apiKey"),
    jwtCpuRatio: cpuRatios("jwt"),
  };
}

if (import.meta.main) {
  const kafka = await Deno.connect({
    hostname: "127.0.0.1",
    port: Number(KAFKA_BROKERS.split(",")[0].split(":")[1]),
  }).then((c) => (c.close(), true), () => false);
  const options = {
    seconds: Number(Deno.env.get("BENCH_SECONDS") ?? 5),
    repeats: Number(Deno.env.get("BENCH_REPEATS") ?? 3),
  };
  for (const [name, env] of authBackends(kafka)) {
    const r = await authCost(env, options);
    console.log(
      `${name}, publish c=64: none ${Math.round(r.none)} events/s, API key ${
        Math.round(r.apiKey)
      } (${r.apiKeyRatio.toFixed(3)}), ES256 JWT ${Math.round(r.jwt)} (${
        r.jwtRatio.toFixed(3)
      }); CPU per publish, none over: API key ${r.apiKeyCpuRatio.toFixed(3)}, JWT ${
        r.jwtCpuRatio.toFixed(3)
      }`,
    );
  }
}

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
import { KAFKA_BROKERS, startGateway, uniqueTopic } from "../testing/harness.ts";
import {
  apiKeysFile,
  jwksOf,
  signingKey,
  signToken,
  TEST_AUDIENCE,
  TEST_ISSUER,
} from "../testing/tokens.ts";
import { comparisonOptions, interleaved, type InterleavedOptions } from "./interleaved.ts";
import { NO_PUBLISH_LIMIT } from "./wrk.ts";

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
  options: InterleavedOptions,
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
  let standings;
  try {
    standings = await interleaved([
      { name: "none", gateway: open },
      { name: "apiKey", gateway: keyed, authorization: `Bearer ${keys.keys.bench}` },
      { name: "jwt", gateway: jwtGateway, authorization: `Bearer ${jwt}` },
    ], options);
  } finally {
    await Promise.all(gateways.map((g) => g.stop()));
    await Promise.all([Deno.remove(jwksFile), Deno.remove(keys.path)]);
  }
  const [none, apiKey, jwtStanding] = ["none", "apiKey", "jwt"].map((n) => standings.get(n)!);
  return {
    none: none.rate,
    apiKey: apiKey.rate,
    jwt: jwtStanding.rate,
    apiKeyRatio: apiKey.rateRatio,
    jwtRatio: jwtStanding.rateRatio,
    apiKeyCpuRatio: apiKey.cpuRatio,
    jwtCpuRatio: jwtStanding.cpuRatio,
  };
}

if (import.meta.main) {
  const kafka = await Deno.connect({
    hostname: "127.0.0.1",
    port: Number(KAFKA_BROKERS.split(",")[0].split(":")[1]),
  }).then((c) => (c.close(), true), () => false);
  const options = comparisonOptions();
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

/**
 * `deno task chaos`: the gateway under broker, controller, gateway and NATS
 * faults on a 3-node Kafka cluster of its own (`deploy/local/services.sh`
 * with `--state-dir .cache/chaos`, Kafka on 19092/19094/19096, NATS on
 * 14222), so the 1-broker services other test runs use are never touched.
 *
 * ```sh
 * deno task chaos                      # every scenario, 3 rounds each
 * deno task chaos --rounds 1 --scenarios leader-kill,gateway-kill
 * ```
 *
 * Options: `--rounds N` (3), `--scenarios a,b` (all), `--hold SECONDS` (10;
 * a gateway stays down at most 5 s), `--hung SECONDS` (20), `--rate N` (500
 * publishes/s), `--keep` (leave the cluster running), `--gateway-dir DIR` (run
 * the gateway from another checkout, e.g. `git archive HEAD | tar -x -C DIR`
 * while the working tree is being edited; `TASTESYNC_CHAOS_GATEWAY_DIR`),
 * `--max-in-flight N` (most publish attempts in flight at once, 2,000),
 * `--broker-nice N` (start the brokers with a CPU weight lowered by nice N,
 * standing in for brokers on hosts of their own; `KAFKA_NICE` of
 * `services.sh`; only when the cluster is started here). Progress goes to stderr;
 * the table, then one line of details per round, to stdout. Exits 1 when a
 * round misses a target. Gateway logs are kept in `.cache/chaos/logs/`.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { Cluster, defaultClusterOptions } from "../testing/cluster.ts";
import { details, type RoundRow, table } from "./measure.ts";
import { running } from "./gateways.ts";
import { DEFAULT_MAX_IN_FLIGHT, runRound } from "./round.ts";
import { DEFAULT_HOLD_MS, HUNG_HOLD_MS, scenarios } from "./scenarios.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    rounds: { type: "string", default: "3" },
    scenarios: { type: "string" },
    hold: { type: "string", default: String(DEFAULT_HOLD_MS / 1000) },
    hung: { type: "string", default: String(HUNG_HOLD_MS / 1000) },
    rate: { type: "string", default: "500" },
    "max-in-flight": { type: "string", default: String(DEFAULT_MAX_IN_FLIGHT) },
    keep: { type: "boolean", default: false },
    "gateway-dir": { type: "string", default: Deno.env.get("TASTESYNC_CHAOS_GATEWAY_DIR") },
    "broker-nice": { type: "string" },
  },
});
const rounds = Number(values.rounds);
const maxInFlight = Number(values["max-in-flight"]);
const all = scenarios(Number(values.hold) * 1000, Number(values.hung) * 1000);
const wanted = values.scenarios?.split(",") ?? all.map((s) => s.name);
const unknown = wanted.filter((n) => !all.some((s) => s.name === n));
const brokerNice = values["broker-nice"];
if (
  unknown.length > 0 || !(rounds >= 1) || !(maxInFlight >= 1) ||
  (brokerNice !== undefined && !/^\d+$/.test(brokerNice))
) {
  console.error(
    `usage: deno task chaos [--rounds N] [--scenarios ${all.map((s) => s.name).join(",")}]` +
      ` [--hold S] [--hung S] [--rate N] [--max-in-flight N] [--keep] [--gateway-dir DIR]` +
      ` [--broker-nice N]${unknown.length ? `\nunknown: ${unknown}` : ""}`,
  );
  Deno.exit(2);
}

// services.sh reads it when it starts a broker, here and at each round's restarts.
if (brokerNice !== undefined) Deno.env.set("KAFKA_NICE", brokerNice);
const options = defaultClusterOptions();
const cluster = new Cluster(options);
const log = (message: string) => console.error(message);
const unlock = await cluster.lock();
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  Deno.addSignalListener(signal, async () => {
    log(`${signal}: stopping gateways; the cluster stays up (services.sh stop stops it)`);
    await Promise.all([...running].map((g) => g.kill9()));
    Deno.exit(130);
  });
}
const startedHere = !(await cluster.running());
const t0 = performance.now();
await cluster.start();
log(`cluster ready in ${((performance.now() - t0) / 1000).toFixed(1)} s: ${cluster.brokers}`);

const runId = Date.now().toString(36);
const rows: RoundRow[] = [];
try {
  for (const scenario of all.filter((s) => wanted.includes(s.name))) {
    for (let round = 1; round <= rounds; round++) {
      const started = performance.now();
      try {
        const row = await runRound({
          cluster,
          scenario,
          round,
          runId,
          rate: Number(values.rate),
          maxInFlight,
          logDir: `${options.stateDir}/logs`,
          gatewayDir: values["gateway-dir"],
          log,
        });
        rows.push(row);
        log(
          `${scenario.name} #${round}: ${row.failed.length ? `FAIL ${row.failed}` : "PASS"} in ${
            ((performance.now() - started) / 1000).toFixed(0)
          } s`,
        );
      } catch (error) {
        log(`${scenario.name} #${round} could not run: ${(error as Error).stack}`);
        rows.push(errorRow(scenario.name, round, error as Error));
        // Leave the cluster whole for the next round.
        await cluster.start().catch((e) => log(`cluster restart failed: ${e}`));
      }
    }
  }
} finally {
  if (startedHere && !values.keep) await cluster.stop().catch((e) => log(String(e)));
  else await cluster.close();
  unlock();
}

console.log(table(rows));
console.log();
console.log(details(rows));
console.log(`\n${rows.length} rounds in ${((performance.now() - t0) / 1000).toFixed(0)} s`);
Deno.exit(rows.some((r) => r.failed.length > 0) ? 1 : 0);

function errorRow(scenario: string, round: number, error: Error): RoundRow {
  return {
    scenario,
    round,
    acked: 0,
    lost: 0,
    duplicateRecords: 0,
    duplicatesToGroup: 0,
    rewinds: 0,
    offsetMismatches: 0,
    maxGapMs: 0,
    gapsMs: [],
    p99FaultMs: 0,
    recoveryMs: 0,
    late: 0,
    slowestMs: 0,
    ackedInFault: 0,
    unacked: 0,
    subscriberMissed: 0,
    groupMissed: 0,
    groupUndelivered: 0,
    failures: {},
    failed: ["error"],
    notes: [error.message.split("\n")[0]],
    leaderKill: false,
    expectNoAcks: false,
  };
}

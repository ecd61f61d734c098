/**
 * The cost of tracing on the publish path: `POST /v1/identifications` at
 * concurrency 64 on gateways alike but for tracing (off; the OpenTelemetry
 * SDK sampling 10% and 100% of new traces; Deno's built-in OpenTelemetry),
 * each exporting OTLP for real to a local sink, and a second gateway with
 * tracing off whose "cost" shows the noise of the run. The gateways run at once and
 * their runs are interleaved (`interleaved.ts`); the cost is judged on the
 * gateway's CPU time per publish.
 *
 * Run alone: `deno run -A bench/tracing.ts` (on Kafka when it is up, else on
 * the embedded log).
 *
 * @module
 */
import { KAFKA_BROKERS, startGateway, uniqueTopic } from "../testing/harness.ts";
import {
  comparisonOptions,
  interleaved,
  type InterleavedOptions,
  type Standing,
} from "./interleaved.ts";
import { NO_PUBLISH_LIMIT } from "./wrk.ts";

/** Most CPU per publish that tracing may add, by sampling ratio. */
export const TRACING_TARGETS = { sampled10: 0.10, sampled100: 0.25 } as const;

/** Names of the runs whose cost is judged against {@linkcode TRACING_TARGETS}. */
export const TRACING_RUN_NAMES = {
  off: "off",
  sampled10: "SDK, 10% sampled",
  sampled100: "SDK, 100% sampled",
  control: "off, a second gateway (the noise)",
} as const;

/** How spans are exported in each tracing run (to `sink`, a local OTLP/HTTP receiver). */
const TRACING_RUNS: Record<string, (sink: string) => Record<string, string>> = {
  [TRACING_RUN_NAMES.off]: () => ({}),
  [TRACING_RUN_NAMES.sampled10]: (sink) => ({
    TASTESYNC_TRACING_ENDPOINT: sink,
    TASTESYNC_TRACING_SAMPLE_RATIO: "0.1",
  }),
  [TRACING_RUN_NAMES.sampled100]: (sink) => ({
    TASTESYNC_TRACING_ENDPOINT: sink,
    TASTESYNC_TRACING_SAMPLE_RATIO: "1",
  }),
  // Alike to the first: its "cost" is what two identical gateways differ by in the same run, the
  // noise against which the others' costs are read (10-20% apart on a shared 2-core machine).
  [TRACING_RUN_NAMES.control]: () => ({}),
  "Deno built-in (OTEL_DENO), 100%": (sink) => ({
    OTEL_DENO: "true",
    OTEL_EXPORTER_OTLP_PROTOCOL: "http/json",
    OTEL_EXPORTER_OTLP_ENDPOINT: sink,
    OTEL_DENO_CONSOLE: "ignore",
  }),
};

/** The gateways' settings: a fresh topic on Kafka, else a fresh embedded log. */
export function tracingEnv(kafka: boolean): () => Promise<Record<string, string>> {
  return () =>
    kafka
      ? Promise.resolve({
        TASTESYNC_KAFKA_BROKERS: KAFKA_BROKERS,
        TASTESYNC_KAFKA_TOPIC: uniqueTopic("bench-trace"),
      })
      : Deno.makeTempDir({ prefix: "tastesync-bench-" }).then((dir) => ({
        TASTESYNC_DATA_DIR: dir,
      }));
}

/**
 * Publish at c=64 in each tracing run, exporting OTLP for real: each run's
 * {@linkcode Standing} against tracing off.
 */
export async function tracingCost(
  env: () => Promise<Record<string, string>>,
  options: InterleavedOptions,
): Promise<Map<string, Standing>> {
  // A local OTLP/HTTP sink, so export really happens and costs what it costs.
  const sink = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, async (req) => {
    await req.body?.cancel();
    return Response.json({});
  });
  const endpoint = `http://127.0.0.1:${sink.addr.port}`;
  const runs = Object.entries(TRACING_RUNS);
  const gateways = await Promise.all(
    runs.map(async ([, settings]) =>
      startGateway({ ...await env(), ...NO_PUBLISH_LIMIT, ...settings(endpoint) })
    ),
  );
  try {
    return await interleaved(runs.map(([name], i) => ({ name, gateway: gateways[i] })), options);
  } finally {
    await Promise.all(gateways.map((g) => g.stop()));
    await sink.shutdown();
  }
}

/** One line per run: events/s and, but for tracing off, its cost in CPU and wall clock. */
export function tracingLines(traced: Map<string, Standing>, backend: string): string[] {
  return [...traced].map(([name, { rate, rateRatio, cpuRatio }]) =>
    `publish c=64 (${backend}), tracing ${name}: ${
      Math.round(rate).toLocaleString("en-US")
    } events/s` +
    (name === TRACING_RUN_NAMES.off
      ? ""
      : ` (${((1 - cpuRatio) * 100).toFixed(1)}% cost; wall clock ${
        ((1 - rateRatio) * 100).toFixed(1)
      }%)`)
  );
}

if (import.meta.main) {
  const kafka = await Deno.connect({
    hostname: "127.0.0.1",
    port: Number(KAFKA_BROKERS.split(",")[0].split(":")[1]),
  }).then((c) => (c.close(), true), () => false);
  const traced = await tracingCost(tracingEnv(kafka), comparisonOptions());
  for (const line of tracingLines(traced, kafka ? "kafka" : "embedded")) console.log(line);
}

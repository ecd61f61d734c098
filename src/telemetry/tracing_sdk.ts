/**
 * Trace export with the OpenTelemetry JS SDK: a tracer provider with head
 * sampling by ratio (following the caller's decision when it sent one; the
 * ratio is applied by `traceRoot` before any span is made, so the SDK's own
 * sampler records every root it is given), a batch span processor and the OTLP/HTTP exporter, and the W3C trace-context
 * propagator. No context manager is registered: the gateway passes contexts
 * explicitly (see `tracing.ts`), and `Deno.serve` keeps its fast path
 * because Deno's built-in OpenTelemetry (`OTEL_DENO`) stays off.
 *
 * @module
 */
import { diag, type DiagLogger, DiagLogLevel, propagation, trace } from "@opentelemetry/api";
import { PooledIdGenerator } from "./id_generator.ts";
import { type Logger, RepeatedLog } from "./logger.ts";
import { recordSpans, sampleRoots } from "./tracing.ts";
import { W3CTraceContextPropagator } from "@opentelemetry/core";
import { OTLPTraceExporter } from "@opentelemetry/exporter-trace-otlp-http";
import { resourceFromAttributes } from "@opentelemetry/resources";
import {
  AlwaysOnSampler,
  BatchSpanProcessor,
  ParentBasedSampler,
  TracerProvider,
} from "@opentelemetry/sdk-trace";

/** The OTLP/HTTP path of traces under the collector's base URL. */
const TRACES_PATH = "/v1/traces";

/** What the SDK needs to export traces. */
export interface TracingSettings {
  /** The OTLP/HTTP collector's base URL, e.g. `http://collector:4318`; empty: no export. */
  endpoint: string;
  /** Share of new traces recorded (0 to 1); a caller's sampled `traceparent` is followed. */
  sampleRatio: number;
  /** `service.name` of the exported spans. */
  serviceName: string;
}

/** Export that runs; `shutdown` flushes what is buffered. */
export interface Tracing {
  /** Exports the spans still buffered and stops. */
  shutdown(): Promise<void>;
}

/** Values of `OTEL_DENO` that turn Deno's built-in OpenTelemetry on. */
const OTEL_DENO_ON: ReadonlySet<string> = new Set(["true", "1"]);

/** What {@linkcode startTracing} reads besides the settings. */
export interface TracingOptions {
  /** The environment, for `OTEL_DENO` (default: the process's). */
  env?: Record<string, string | undefined>;
  /** Where the SDK's own warnings and errors go (e.g. spans dropped from a full queue). */
  logger?: Logger;
}

/**
 * The SDK's diagnostics as warnings of `logger`, each kind at most once a
 * second: the batch processor drops spans when its queue (2,048) is full, as
 * at 100% sampling under full load, and says so only here.
 */
function diagnostics(logger: Logger): DiagLogger {
  const warnings = new RepeatedLog(logger, "warn", "Tracing SDK warning");
  // One key per kind of message: "Dropped 1234 spans ..." and "Dropped 17 spans ..." are one.
  const log = (message: string) =>
    warnings.log(message.replace(/\d+/g, "N"), { component: "tracing", detail: message });
  const ignore = () => {};
  return { error: log, warn: log, info: ignore, debug: ignore, verbose: ignore };
}

/**
 * Registers the SDK globally when `settings.endpoint` is set. Otherwise no
 * span is made ({@linkcode recordSpans}), unless Deno's built-in
 * OpenTelemetry is on (`OTEL_DENO`, read from `env`), which registers its
 * own; trace context is still passed through. The SDK's warnings go to
 * `logger` when given.
 */
export function startTracing(
  settings: TracingSettings,
  { env = Deno.env.toObject(), logger }: TracingOptions = {},
): Tracing {
  if (!settings.endpoint) {
    recordSpans(OTEL_DENO_ON.has(env.OTEL_DENO ?? ""));
    return { shutdown: () => Promise.resolve(recordSpans(true)) };
  }
  recordSpans(true);
  sampleRoots(settings.sampleRatio);
  if (logger) diag.setLogger(diagnostics(logger), DiagLogLevel.WARN);
  const provider = new TracerProvider({
    resource: resourceFromAttributes({ "service.name": settings.serviceName }),
    sampler: new ParentBasedSampler({ root: new AlwaysOnSampler() }),
    idGenerator: new PooledIdGenerator(),
    spanProcessors: [
      new BatchSpanProcessor({
        exporter: new OTLPTraceExporter({
          url: settings.endpoint.replace(/\/$/, "") + TRACES_PATH,
        }),
      }),
    ],
  });
  trace.setGlobalTracerProvider(provider);
  propagation.setGlobalPropagator(new W3CTraceContextPropagator());
  return {
    async shutdown() {
      await provider.shutdown();
      sampleRoots(1);
      trace.disable();
      propagation.disable();
      diag.disable();
    },
  };
}

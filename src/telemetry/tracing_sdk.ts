/**
 * Trace export with the OpenTelemetry JS SDK: a tracer provider with head
 * sampling by ratio (following the caller's decision when it sent one), a
 * batch span processor and the OTLP/HTTP exporter, and the W3C trace-context
 * propagator. No context manager is registered: the gateway passes contexts
 * explicitly (see `tracing.ts`), and `Deno.serve` keeps its fast path
 * because Deno's built-in OpenTelemetry (`OTEL_DENO`) stays off.
 *
 * @module
 */
import { propagation, trace } from "@opentelemetry/api";
import { W3CTraceContextPropagator } from "@opentelemetry/core";
import { OTLPTraceExporter } from "@opentelemetry/exporter-trace-otlp-http";
import { resourceFromAttributes } from "@opentelemetry/resources";
import {
  BatchSpanProcessor,
  ParentBasedSampler,
  TraceIdRatioBasedSampler,
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

/**
 * Registers the SDK globally when `settings.endpoint` is set; otherwise the
 * API stays a no-op (spans cost next to nothing) and trace context is only
 * passed through.
 */
export function startTracing(settings: TracingSettings): Tracing {
  if (!settings.endpoint) return { shutdown: () => Promise.resolve() };
  const provider = new TracerProvider({
    resource: resourceFromAttributes({ "service.name": settings.serviceName }),
    sampler: new ParentBasedSampler({
      root: new TraceIdRatioBasedSampler(settings.sampleRatio),
    }),
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
      trace.disable();
      propagation.disable();
    },
  };
}

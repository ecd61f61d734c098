/**
 * One shared tracer from `@opentelemetry/api`, and helpers that start spans
 * under an explicit parent context and carry W3C trace context in message
 * headers. Contexts are passed by hand along the publish and delivery paths
 * (no async-context tracking), so spans nest the same under any SDK, or none.
 *
 * @module
 */
import {
  type Attributes,
  type Context,
  INVALID_SPAN_CONTEXT,
  propagation,
  ROOT_CONTEXT,
  type Span,
  SpanKind,
  SpanStatusCode,
  trace,
  TraceFlags,
} from "@opentelemetry/api";

export type { Context } from "@opentelemetry/api";
export { ROOT_CONTEXT } from "@opentelemetry/api";

/** The gateway's tracer. A no-op until an SDK is registered. */
export const tracer = trace.getTracer("tastesync-gateway");

/** The span that stands in when none is made: records nothing, carries no trace. */
const NO_SPAN: Span = trace.wrapSpanContext(INVALID_SPAN_CONTEXT);
let spansRecorded = true;

/**
 * Whether any span can be recorded in this process: false when no SDK and no
 * built-in OpenTelemetry is on, so {@linkcode startSpan} makes nothing (the
 * no-op tracer still built a span and a context per call: about a tenth of
 * a publish's CPU on the request thread). Trace context is still carried
 * on, from the caller's headers. On by default.
 */
export function recordSpans(on: boolean): void {
  spansRecorded = on;
}

/** Whether spans are made ({@linkcode recordSpans}). */
export function spansAreRecorded(): boolean {
  return spansRecorded;
}

/** A started span and the context whose active span it is (the parent of its children). */
export interface Traced {
  /** The span; end it when its work is done. */
  span: Span;
  /** `parent` with the span active. */
  context: Context;
}

/**
 * Starts a span under `parent`; the caller ends it. With spans off
 * ({@linkcode recordSpans}) the parent's span, or one that records nothing,
 * stands in and `parent` is the context. Under a parent that is
 * not sampled no span is made: the parent-based sampler would not record it,
 * and making one (ids, sampler, context) cost several percent of a publish
 * with 10% sampling. The parent's own (non-recording) span stands in, so the
 * trace id and the unsampled flag still travel on.
 */
export function startSpan(
  name: string,
  parent: Context,
  attributes: Attributes = {},
  kind: SpanKind = SpanKind.INTERNAL,
): Traced {
  if (!spansRecorded) return { span: trace.getSpan(parent) ?? NO_SPAN, context: parent };
  const known = trace.getSpan(parent)?.spanContext();
  // The all-zero trace id is the one invalid context a parent can hold here (a span that records
  // nothing, with spans off); comparing it is cheaper than `isSpanContextValid`'s hex scan.
  if (
    known && (known.traceFlags & TraceFlags.SAMPLED) === 0 &&
    known.traceId !== INVALID_SPAN_CONTEXT.traceId
  ) {
    return { span: trace.wrapSpanContext(known), context: parent };
  }
  const span = tracer.startSpan(name, { kind, attributes }, parent);
  return { span, context: trace.setSpan(parent, span) };
}

/** Marks `span` as failed with `error`. */
export function recordError(span: Span, error: unknown): void {
  span.recordException(error instanceof Error ? error : String(error));
  span.setStatus({
    code: SpanStatusCode.ERROR,
    message: error instanceof Error ? error.message : String(error),
  });
}

/** Runs `fn` in a new span under `parent` that ends when `fn` settles. */
export async function inSpan<T>(
  name: string,
  parent: Context,
  attributes: Attributes,
  fn: (traced: Traced) => Promise<T>,
): Promise<T> {
  const traced = startSpan(name, parent, attributes);
  try {
    return await fn(traced);
  } catch (error) {
    recordError(traced.span, error);
    throw error;
  } finally {
    traced.span.end();
  }
}

/** Runs the synchronous `fn` in a new span under `parent`. */
export function inSpanSync<T>(name: string, parent: Context, fn: (traced: Traced) => T): T {
  const traced = startSpan(name, parent);
  try {
    return fn(traced);
  } catch (error) {
    recordError(traced.span, error);
    throw error;
  } finally {
    traced.span.end();
  }
}

/** The trace context of `ctx` as headers (`traceparent`, `tracestate`); empty when none is recorded. */
export function headersOf(ctx: Context): Record<string, string> {
  const carrier: Record<string, string> = {};
  propagation.inject(ctx, carrier);
  return carrier;
}

/** The context that continues the trace carried by `headers`, e.g. an incoming `traceparent`. */
export function remoteContext(headers: Record<string, string | undefined>): Context {
  return propagation.extract(ROOT_CONTEXT, headers);
}

/** A W3C `traceparent` (version 00 layout; all-zero ids are invalid). */
const TRACEPARENT_PATTERN = /^[0-9a-f]{2}-(?!0{32})[0-9a-f]{32}-(?!0{16})[0-9a-f]{16}-[0-9a-f]{2}$/;
/** Longest `tracestate` carried on (the W3C limit is 32 members). */
const MAX_TRACESTATE_LENGTH = 512;

/**
 * The W3C trace context in `headers` (a caller's request, a record), when well
 * formed: `traceparent` and, with it, `tracestate`.
 */
export function carriedTrace(
  headers: Record<string, string | undefined>,
): Record<string, string> {
  const { traceparent, tracestate } = headers;
  if (traceparent === undefined || !TRACEPARENT_PATTERN.test(traceparent)) return {};
  return tracestate !== undefined && tracestate.length <= MAX_TRACESTATE_LENGTH
    ? { traceparent, tracestate }
    : { traceparent };
}

/**
 * Trace headers for a message sent in `ctx`: its span's while spans are
 * recorded, else `carried` (the caller's), so the trace passes through a
 * gateway that exports nothing.
 */
export function outgoingTrace(
  ctx: Context,
  carried: Record<string, string>,
): Record<string, string> {
  const own = headersOf(ctx);
  return own.traceparent ? own : carried;
}

/** A consumer-side span and the context and headers that continue it. */
export interface ConsumerSpan extends Traced {
  /** W3C trace headers of the span, for frames sent to subscribers. */
  headers: Record<string, string>;
}

/** Starts a consumer span continuing the trace carried in a record's `headers`. */
export function startConsumerSpan(
  name: string,
  headers: Record<string, string>,
  attributes: Attributes,
): ConsumerSpan {
  const traced = startSpan(name, remoteContext(headers), attributes, SpanKind.CONSUMER);
  return { ...traced, headers: outgoingTrace(traced.context, carriedTrace(headers)) };
}

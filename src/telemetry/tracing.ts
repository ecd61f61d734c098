/**
 * The gateway's tracer from `@opentelemetry/api`, and helpers that start spans
 * under an explicit parent context and carry W3C trace context in message
 * headers. Contexts are passed by hand along the publish and delivery paths
 * (no async-context tracking), so spans nest the same under any SDK, or none.
 *
 * @module
 */
import {
  type Attributes,
  type Context,
  createContextKey,
  INVALID_SPAN_CONTEXT,
  propagation,
  ROOT_CONTEXT,
  type Span,
  SpanKind,
  SpanStatusCode,
  trace,
} from "@opentelemetry/api";

export type { Context, Span } from "@opentelemetry/api";
export { ROOT_CONTEXT } from "@opentelemetry/api";

/** The name of the gateway's tracer. */
const TRACER_NAME = "tastesync-gateway";

/** The span that stands in when none is made: records nothing, carries no trace. */
const NO_SPAN: Span = trace.wrapSpanContext(INVALID_SPAN_CONTEXT);

/**
 * The context of work that is not traced: a new trace the ratio left out, or
 * a caller's trace that it does not sample. Nothing is made under it, no
 * span, id or context, exactly as with tracing off, and only the caller's
 * own trace headers travel on ({@linkcode outgoingTrace}).
 */
export const UNTRACED: Context = ROOT_CONTEXT.setValue(
  createContextKey("tastesync.untraced"),
  true,
);

let spansRecorded = true;
let rootRatio = 1;

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

/**
 * The share of new traces that {@linkcode traceRoot} records (0 to 1; 1 by
 * default, which leaves the decision to the registered SDK's own sampler).
 */
export function sampleRoots(ratio: number): void {
  rootRatio = ratio;
}

/** A W3C `traceparent` (version 00 layout; all-zero ids are invalid). */
const TRACEPARENT_PATTERN = /^[0-9a-f]{2}-(?!0{32})[0-9a-f]{32}-(?!0{16})[0-9a-f]{16}-[0-9a-f]{2}$/;
/** Longest `tracestate` carried on (the W3C limit is 32 members). */
const MAX_TRACESTATE_LENGTH = 512;
/** The `sampled` bit of a `traceparent`'s flags. */
const SAMPLED_FLAG = 1;

/**
 * The context that new work (a request, a delivery) runs under, decided once
 * at its start: the caller's trace from `headers` when it is sampled, a new
 * trace for {@linkcode sampleRoots}'s share of the rest, and
 * {@linkcode UNTRACED} otherwise. Work that is not sampled then takes the
 * same path as with tracing off: making an unsampled span and context for
 * every hop cost about as much as recording them (10% sampling cost 18% of
 * publish throughput, 100% cost 20%).
 */
export function traceRoot(headers: Record<string, string | undefined>): Context {
  if (!spansRecorded) return UNTRACED;
  const { traceparent } = headers;
  if (traceparent !== undefined && TRACEPARENT_PATTERN.test(traceparent)) {
    const sampled = (parseInt(traceparent.slice(-2), 16) & SAMPLED_FLAG) !== 0;
    return sampled ? remoteContext(headers) : UNTRACED;
  }
  return rootRatio >= 1 || Math.random() < rootRatio ? ROOT_CONTEXT : UNTRACED;
}

/** Whether nothing is made under `parent`: spans are off, or it is {@linkcode UNTRACED}. */
function untraced(parent: Context): boolean {
  return parent === UNTRACED || !spansRecorded;
}

/** A started span and the context whose active span it is (the parent of its children). */
export interface Traced {
  /** The span; end it when its work is done. */
  span: Span;
  /** `parent` with the span active. */
  context: Context;
}

/**
 * Starts a span under `parent`; the caller ends it. Under
 * {@linkcode UNTRACED}, or with spans off ({@linkcode recordSpans}), a span
 * that records nothing stands in and `parent` is the context. A new trace
 * starts under a parent without a span: take it from {@linkcode traceRoot},
 * which samples.
 */
export function startSpan(
  name: string,
  parent: Context,
  attributes: Attributes = {},
  kind: SpanKind = SpanKind.INTERNAL,
): Traced {
  if (untraced(parent)) return { span: NO_SPAN, context: parent };
  // Looked up per span (the provider caches it), not once: a tracer taken at load keeps the
  // provider registered first, also after tracing was stopped and started again.
  const span = trace.getTracer(TRACER_NAME).startSpan(name, { kind, attributes }, parent);
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
export function inSpan<T>(
  name: string,
  parent: Context,
  attributes: Attributes,
  fn: (traced: Traced) => Promise<T>,
): Promise<T> {
  return untraced(parent)
    ? fn({ span: NO_SPAN, context: parent })
    : spanned(name, parent, attributes, fn);
}

async function spanned<T>(
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
  if (untraced(parent)) return fn({ span: NO_SPAN, context: parent });
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
  if (untraced(ctx)) return carried;
  const own = headersOf(ctx);
  return own.traceparent ? own : carried;
}

/** A consumer-side span and the context and headers that continue it. */
export interface ConsumerSpan extends Traced {
  /** W3C trace headers of the span, for frames sent to subscribers. */
  headers: Record<string, string>;
}

/**
 * Starts a consumer span continuing the trace carried in a record's
 * `headers`, or a new trace ({@linkcode traceRoot} samples it).
 */
export function startConsumerSpan(
  name: string,
  headers: Record<string, string>,
  attributes: Attributes,
): ConsumerSpan {
  const traced = startSpan(name, traceRoot(headers), attributes, SpanKind.CONSUMER);
  return { ...traced, headers: outgoingTrace(traced.context, carriedTrace(headers)) };
}

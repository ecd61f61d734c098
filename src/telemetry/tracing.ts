/**
 * One shared tracer from `@opentelemetry/api`, and helpers that run work in a
 * span and carry W3C trace context in message headers.
 *
 * @module
 */
import {
  type Attributes,
  type Context,
  context,
  propagation,
  ROOT_CONTEXT,
  type Span,
  SpanKind,
  SpanStatusCode,
  trace,
} from "@opentelemetry/api";

/** The gateway's tracer. A no-op until an SDK is registered. */
export const tracer = trace.getTracer("tastesync-gateway");

/** Marks `span` as failed with `error`. */
export function recordError(span: Span, error: unknown): void {
  span.recordException(error instanceof Error ? error : String(error));
  span.setStatus({
    code: SpanStatusCode.ERROR,
    message: error instanceof Error ? error.message : String(error),
  });
}

/** Runs `fn` in a new active span that ends when `fn` settles. */
export function inSpan<T>(
  name: string,
  attributes: Attributes,
  fn: (span: Span) => Promise<T>,
): Promise<T> {
  return tracer.startActiveSpan(name, { attributes }, async (span) => {
    try {
      return await fn(span);
    } catch (error) {
      recordError(span, error);
      throw error;
    } finally {
      span.end();
    }
  });
}

/** Runs the synchronous `fn` in a new active span. */
export function inSpanSync<T>(name: string, fn: (span: Span) => T): T {
  return tracer.startActiveSpan(name, (span) => {
    try {
      return fn(span);
    } catch (error) {
      recordError(span, error);
      throw error;
    } finally {
      span.end();
    }
  });
}

/** The active trace context as headers (`traceparent`, `tracestate`). */
export function traceHeaders(): Record<string, string> {
  const carrier: Record<string, string> = {};
  propagation.inject(context.active(), carrier);
  return carrier;
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
 * Trace headers for a message sent now: the active span's while spans are
 * recorded, else `carried` (the caller's), so the trace passes through a
 * gateway that exports nothing.
 */
export function outgoingTrace(carried: Record<string, string>): Record<string, string> {
  const active = traceHeaders();
  return active.traceparent ? active : carried;
}

/** Runs `fn` in the trace context carried by `headers`, e.g. an incoming `traceparent`. */
export function withRemoteContext<T>(headers: Record<string, string | undefined>, fn: () => T): T {
  return context.with(propagation.extract(context.active(), headers), fn);
}

/** A consumer-side span and the context and headers that continue it. */
export interface ConsumerSpan {
  /** The span; end it when the record is handled. */
  span: Span;
  /** The context with the span active. */
  context: Context;
  /** W3C trace headers of the span, for frames sent to subscribers. */
  headers: Record<string, string>;
}

/** Starts a consumer span continuing the trace carried in a record's `headers`. */
export function startConsumerSpan(
  name: string,
  headers: Record<string, string>,
  attributes: Attributes,
): ConsumerSpan {
  const parent = propagation.extract(ROOT_CONTEXT, headers);
  const span = tracer.startSpan(name, { kind: SpanKind.CONSUMER, attributes }, parent);
  const active = trace.setSpan(parent, span);
  const carrier: Record<string, string> = {};
  propagation.inject(active, carrier);
  return {
    span,
    context: active,
    headers: carrier.traceparent ? carrier : carriedTrace(headers),
  };
}

/** Runs `fn` with `ctx` active. */
export function withContext<T>(ctx: Context, fn: () => T): T {
  return context.with(ctx, fn);
}

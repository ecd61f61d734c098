/**
 * The span of each HTTP request: it continues the caller's `traceparent`, and
 * its context is kept on the request so the handlers' spans (validation, the
 * publish) are its children, passed explicitly rather than through
 * async-context tracking.
 *
 * @module
 */
import type { Context, MiddlewareHandler } from "hono";
import {
  type Context as TraceContext,
  inSpan,
  spansAreRecorded,
  traceRoot,
  UNTRACED,
} from "../telemetry/tracing.ts";

/** A request span's name until it is known to be recorded (then `<method> <route>`). */
const REQUEST_SPAN_NAME = "HTTP request";

/** The Hono context variable that holds the request span's trace context. */
const TRACE_CONTEXT_VARIABLE = "traceContext";

/**
 * The middleware that runs each request in its span, when sampled
 * (`traceRoot`); a request that is not runs as with tracing off.
 */
export function requestSpan(): MiddlewareHandler {
  return (c, next) => {
    if (!spansAreRecorded()) return next();
    const root = traceRoot({
      traceparent: c.req.header("traceparent"),
      tracestate: c.req.header("tracestate"),
    });
    if (root === UNTRACED) return next();
    return inSpan(REQUEST_SPAN_NAME, root, {}, async ({ span, context }) => {
      // Named and described only when sampled: the route and path cost a lookup and a URL parse
      // on every request, and a span that records nothing drops them.
      if (span.isRecording()) {
        span.updateName(`${c.req.method} ${c.req.routePath}`);
        span.setAttributes({ "http.request.method": c.req.method, "url.path": c.req.path });
      }
      c.set(TRACE_CONTEXT_VARIABLE, context);
      await next();
      span.setAttribute("http.response.status_code", c.res.status);
    });
  };
}

/** The trace context of `c`'s request span: the parent of the spans of its work. */
export function traceOf(c: Context): TraceContext {
  return (c.get(TRACE_CONTEXT_VARIABLE) as TraceContext | undefined) ?? UNTRACED;
}

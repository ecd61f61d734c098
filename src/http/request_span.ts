/**
 * The span of each HTTP request: it continues the caller's `traceparent`, and
 * its context is kept on the request so the handlers' spans (validation, the
 * publish) are its children, passed explicitly rather than through
 * async-context tracking.
 *
 * @module
 */
import type { Context, MiddlewareHandler } from "hono";
import { routePath } from "hono/route";
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
      c.set(TRACE_CONTEXT_VARIABLE, context);
      await next();
      // Named and described only when sampled: the route and path cost a lookup and a URL parse
      // on every request, and a span that records nothing drops them. The route is known once
      // routing ran: before `next`, this middleware's own pattern (`/*`) named every span.
      if (!span.isRecording()) return;
      const route = routePath(c, -1);
      span.updateName(`${c.req.method} ${route}`);
      span.setAttributes({
        "http.request.method": c.req.method,
        "http.route": route,
        "url.path": c.req.path,
        "http.response.status_code": c.res.status,
      });
    });
  };
}

/** The trace context of `c`'s request span: the parent of the spans of its work. */
export function traceOf(c: Context): TraceContext {
  return (c.get(TRACE_CONTEXT_VARIABLE) as TraceContext | undefined) ?? UNTRACED;
}

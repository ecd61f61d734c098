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
  remoteContext,
  ROOT_CONTEXT,
  spansAreRecorded,
} from "../telemetry/tracing.ts";

/** The Hono context variable that holds the request span's trace context. */
const TRACE_CONTEXT_VARIABLE = "traceContext";

/** The middleware that runs each request in its span. */
export function requestSpan(): MiddlewareHandler {
  return (c, next) => {
    if (!spansAreRecorded()) return next();
    const headers = {
      traceparent: c.req.header("traceparent"),
      tracestate: c.req.header("tracestate"),
    };
    return inSpan(`${c.req.method} ${c.req.routePath}`, remoteContext(headers), {
      "http.request.method": c.req.method,
      "url.path": c.req.path,
    }, async ({ span, context }) => {
      c.set(TRACE_CONTEXT_VARIABLE, context);
      await next();
      span.setAttribute("http.response.status_code", c.res.status);
    });
  };
}

/** The trace context of `c`'s request span: the parent of the spans of its work. */
export function traceOf(c: Context): TraceContext {
  return (c.get(TRACE_CONTEXT_VARIABLE) as TraceContext | undefined) ?? ROOT_CONTEXT;
}

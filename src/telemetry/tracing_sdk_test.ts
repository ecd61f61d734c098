import assert from "node:assert/strict";
import { remoteContext, ROOT_CONTEXT, spansAreRecorded, startSpan } from "./tracing.ts";
import { startTracing } from "./tracing_sdk.ts";

Deno.test("tracing SDK: new traces are sampled by ratio, a caller's sampled traceparent is followed", async () => {
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    () => Response.json({}),
  );
  const tracing = startTracing({
    endpoint: `http://127.0.0.1:${server.addr.port}`,
    sampleRatio: 0,
    serviceName: "test",
  });
  try {
    const root = startSpan("root", ROOT_CONTEXT);
    assert.equal(root.span.isRecording(), false, "ratio 0 records no new trace");
    root.span.end();
    const caller = remoteContext({
      traceparent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
    });
    const child = startSpan("child", caller);
    assert.equal(child.span.isRecording(), true, "the caller sampled it");
    assert.equal(child.span.spanContext().traceId, "0af7651916cd43dd8448eb211c80319c");
    child.span.end();
    // Under an unsampled parent no span is made: the trace id and the flag travel on.
    const unsampled = remoteContext({
      traceparent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00",
    });
    const inner = startSpan("inner", unsampled);
    assert.equal(inner.span.isRecording(), false);
    assert.equal(inner.context, unsampled);
    assert.equal(inner.span.spanContext().spanId, "b7ad6b7169203331");
    const underRoot = startSpan("under-root", root.context);
    assert.equal(
      underRoot.context,
      root.context,
      "ratio 0: the root's children are not made either",
    );
  } finally {
    await tracing.shutdown();
    await server.shutdown();
  }
});

Deno.test("tracing SDK: without an endpoint no span is made, and the caller's context passes through", async () => {
  const settings = { endpoint: "", sampleRatio: 1, serviceName: "test" };
  const tracing = startTracing(settings, {});
  assert.equal(spansAreRecorded(), false);
  const { span, context } = startSpan("root", ROOT_CONTEXT);
  assert.equal(span.isRecording(), false);
  assert.equal(context, ROOT_CONTEXT, "no context is made");
  span.end();
  const caller = remoteContext({
    traceparent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
  });
  assert.equal(startSpan("child", caller).context, caller);
  await tracing.shutdown();
  assert.equal(spansAreRecorded(), true, "shutdown puts the default back");

  const builtIn = startTracing(settings, { OTEL_DENO: "true" });
  assert.equal(spansAreRecorded(), true, "Deno's built-in OpenTelemetry records them");
  await builtIn.shutdown();
});

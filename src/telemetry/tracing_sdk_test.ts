import assert from "node:assert/strict";
import {
  inSpanSync,
  outgoingTrace,
  remoteContext,
  ROOT_CONTEXT,
  spansAreRecorded,
  startConsumerSpan,
  startSpan,
  traceRoot,
  UNTRACED,
} from "./tracing.ts";
import { startTracing } from "./tracing_sdk.ts";

/** Runs `fn` with the SDK registered at `sampleRatio`, exporting to a local sink. */
async function withSdk(sampleRatio: number, fn: () => void): Promise<void> {
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    () => Response.json({}),
  );
  const tracing = startTracing({
    endpoint: `http://127.0.0.1:${server.addr.port}`,
    sampleRatio,
    serviceName: "test",
  });
  try {
    fn();
  } finally {
    await tracing.shutdown();
    await server.shutdown();
  }
}

Deno.test("tracing SDK: new traces are sampled by ratio, a caller's sampled traceparent is followed", async () => {
  await withSdk(0, () => {
    assert.equal(traceRoot({}), UNTRACED, "ratio 0 records no new trace");
    const sampledCaller = {
      traceparent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
    };
    const child = startSpan("child", traceRoot(sampledCaller));
    assert.equal(child.span.isRecording(), true, "the caller sampled it");
    assert.equal(child.span.spanContext().traceId, "0af7651916cd43dd8448eb211c80319c");
    const grandchild = startSpan("grandchild", child.context);
    assert.equal(grandchild.span.isRecording(), true, "a sampled trace is recorded whole");
    grandchild.span.end();
    child.span.end();
    // A caller's unsampled trace, or a malformed one, is not traced: no span, no context, and
    // the caller's own headers travel on unchanged.
    const unsampled = {
      traceparent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00",
      tracestate: "vendor=1",
    };
    assert.equal(traceRoot(unsampled), UNTRACED);
    assert.equal(traceRoot({ traceparent: "00-zz-01" }), UNTRACED);
    const inner = startSpan("inner", UNTRACED);
    assert.equal(inner.span.isRecording(), false);
    assert.equal(inner.context, UNTRACED, "nothing is made under it");
    assert.equal(inSpanSync("sync", UNTRACED, ({ context }) => context), UNTRACED);
    assert.deepEqual(outgoingTrace(UNTRACED, unsampled), unsampled);
    const delivery = startConsumerSpan("read", unsampled, {});
    assert.equal(delivery.span.isRecording(), false);
    assert.deepEqual(delivery.headers, unsampled, "the record's trace passes to the frame");
    const sampledDelivery = startConsumerSpan("read", sampledCaller, {});
    assert.equal(sampledDelivery.span.isRecording(), true);
    assert.match(
      sampledDelivery.headers.traceparent,
      /^00-0af7651916cd43dd8448eb211c80319c-(?!b7ad6b7169203331)[0-9a-f]{16}-01$/,
      "the frame continues the trace from the delivery's own span",
    );
    sampledDelivery.span.end();
  });
});

Deno.test("tracing SDK: new traces are sampled in the configured share", async () => {
  await withSdk(0.1, () => {
    const traces = 10_000;
    let recorded = 0;
    for (let i = 0; i < traces; i++) {
      const root = traceRoot({});
      if (root === UNTRACED) continue;
      const { span } = startSpan("root", root);
      assert.equal(span.isRecording(), true, "a root let through is recorded");
      span.end();
      recorded++;
    }
    // Binomial(10,000, 0.1): standard deviation 30, so 800-1,200 fails about once in 10^40.
    assert.ok(recorded > 800 && recorded < 1200, `${recorded} of ${traces} recorded`);
  });
});

Deno.test("tracing SDK: without an endpoint no span is made, and the caller's context passes through", async () => {
  const settings = { endpoint: "", sampleRatio: 1, serviceName: "test" };
  const tracing = startTracing(settings, { env: {} });
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

  const builtIn = startTracing(settings, { env: { OTEL_DENO: "true" } });
  assert.equal(spansAreRecorded(), true, "Deno's built-in OpenTelemetry records them");
  await builtIn.shutdown();
});

Deno.test("tracing SDK: spans dropped from a full export queue are logged", async () => {
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    () => Response.json({}),
  );
  const logged: { msg: string; fields?: Record<string, unknown> }[] = [];
  const logger = {
    log: (_level: string, msg: string, fields?: Record<string, unknown>) =>
      void logged.push({ msg, fields }),
    enabled: () => true,
  };
  const tracing = startTracing(
    { endpoint: `http://127.0.0.1:${server.addr.port}`, sampleRatio: 1, serviceName: "test" },
    { env: {}, logger },
  );
  try {
    const end = (n: number) => {
      for (let i = 0; i < n; i++) startSpan("s", ROOT_CONTEXT).span.end();
    };
    // The first 512 go out in one export; while it runs, 2,048 wait and the rest are dropped.
    end(5_000);
    const warnings = () => logged.filter((l) => l.msg === "Tracing SDK warning");
    // The count is told with the first span taken after the drops, once the export made room.
    for (let i = 0; warnings().length === 0 && i < 1_000; i++) {
      await new Promise((r) => setTimeout(r, 5));
      end(1);
    }
    assert.equal(warnings().length, 1, JSON.stringify(logged));
    const dropped = Number(String(warnings()[0].fields?.detail).match(/^Dropped (\d+) spans/)?.[1]);
    assert.ok(dropped >= 2_440, `${dropped} dropped`);
    assert.equal(warnings()[0].fields?.component, "tracing");
  } finally {
    await tracing.shutdown();
    await server.shutdown();
  }
});

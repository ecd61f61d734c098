/**
 * Observability end to end: one trace from the HTTP request through Kafka to
 * the subscriber's frame (spans exported over OTLP/HTTP JSON by Deno's
 * built-in OpenTelemetry to an in-memory receiver here), and `/metrics`
 * counters that move by exactly the traffic sent.
 */
import assert from "node:assert/strict";
import {
  identification,
  KAFKA_BROKERS,
  NATS_URL,
  readTopic,
  startGateway,
  subscribeWs,
  uniqueTopic,
  waitUntil,
} from "../testing/harness.ts";

interface ExportedSpan {
  name: string;
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  events?: { name: string }[];
}

/** An OTLP/HTTP JSON receiver that keeps every span in memory. */
function otlpReceiver() {
  const spans: ExportedSpan[] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, async (req) => {
    const body = await req.json().catch(() => ({}));
    for (const rs of body.resourceSpans ?? []) {
      for (const ss of rs.scopeSpans ?? []) spans.push(...(ss.spans ?? []));
    }
    return Response.json({});
  });
  return { spans, url: `http://127.0.0.1:${server.addr.port}`, close: () => server.shutdown() };
}

/** How the gateway exports spans to `url`: the OpenTelemetry JS SDK, or Deno's built-in one. */
const EXPORTERS: Record<string, (url: string) => Record<string, string>> = {
  "the OpenTelemetry SDK": (url) => ({
    TASTESYNC_TRACING_ENDPOINT: url,
    TASTESYNC_TRACING_SAMPLE_RATIO: "0",
    TASTESYNC_TRACING_SERVICE_NAME: "tastesync-gateway-test",
  }),
  "Deno's built-in OpenTelemetry": (url) => ({
    OTEL_DENO: "true",
    OTEL_EXPORTER_OTLP_PROTOCOL: "http/json",
    OTEL_EXPORTER_OTLP_ENDPOINT: url,
    OTEL_SERVICE_NAME: "tastesync-gateway-test",
    OTEL_DENO_CONSOLE: "ignore",
  }),
};

for (const [exporter, settings] of Object.entries(EXPORTERS)) {
  Deno.test(`telemetry: with ${exporter}, one trace spans the POST, the Kafka record, the consumer and the delivery frame`, async () => {
    const receiver = otlpReceiver();
    const topic = uniqueTopic("trace");
    // Sampling at 0 with the SDK: the caller's sampled traceparent alone makes this trace recorded.
    const gateway = await startGateway({
      TASTESYNC_KAFKA_BROKERS: KAFKA_BROKERS,
      TASTESYNC_KAFKA_TOPIC: topic,
      TASTESYNC_NATS_URL: NATS_URL,
      ...settings(receiver.url),
    });
    try {
      const ws = await subscribeWs(gateway.url);
      // First a caller's unsampled trace: nothing is recorded for it, and its headers pass
      // through unchanged to the record and the frame.
      const unsampledId = crypto.randomUUID().replaceAll("-", "");
      const unsampled = `00-${unsampledId}-${unsampledId.slice(16)}-00`;
      const skipped = await gateway.post(
        "/v1/identifications",
        identification({ event_id: "untraced-1" }),
        { traceparent: unsampled, tracestate: "vendor=opaque" },
      );
      assert.equal(skipped.status, 202);
      await skipped.body?.cancel();
      const [skippedFrame] = await ws.events(1);
      assert.equal(skippedFrame.traceparent, unsampled, "the caller's own traceparent");

      const traceId = crypto.randomUUID().replaceAll("-", "");
      const callerSpan = traceId.slice(0, 16);
      const res = await gateway.post(
        "/v1/identifications",
        identification({ event_id: "traced-1" }),
        {
          traceparent: `00-${traceId}-${callerSpan}-01`,
        },
      );
      assert.equal(res.status, 202);
      await res.body?.cancel();

      const [frame] = await ws.events(1);
      assert.match(
        frame.traceparent,
        new RegExp(`^00-${traceId}-[0-9a-f]{16}-01$`),
        "the frame continues the trace",
      );
      const [skippedRecord, record] = await readTopic(topic, (m) => m.length >= 2);
      assert.equal(String(skippedRecord.headers?.traceparent), unsampled);
      assert.equal(String(skippedRecord.headers?.tracestate), "vendor=opaque");
      assert.match(
        String(record.headers?.traceparent),
        new RegExp(`^00-${traceId}-`),
        "the record carries the trace",
      );

      const expected = [
        "event_log.append",
        "event_log.read",
        "subscription.filter",
        "websocket.send",
      ];
      const inTrace = () => receiver.spans.filter((s) => s.traceId === traceId);
      await waitUntil(
        () => expected.every((n) => inTrace().some((s) => s.name === n)),
        "every hop's span arrived",
        30_000,
      );
      const names = new Set(inTrace().map((s) => s.name));
      const append = inTrace().find((s) => s.name === "event_log.append");
      assert.ok(
        append?.events?.some((e) => e.name === "live_bus.publish"),
        "the NATS mirror is an event of the append's span",
      );
      assert.ok(
        names.has("POST /v1/identifications"),
        `an HTTP span named by its route: ${[...names]}`,
      );
      // The incoming traceparent was continued: some span's parent is the caller's span.
      assert.ok(inTrace().some((s) => s.parentSpanId === callerSpan));
      // Spans are exported in the order they end: the unsampled publish's would have come first.
      // Deno's built-in OpenTelemetry records its own server span (named by the method alone)
      // whatever the caller's flag; the gateway makes none.
      const gatewaySpans = receiver.spans.filter((s) =>
        s.traceId === unsampledId && s.name !== "POST"
      );
      assert.deepEqual(gatewaySpans.map((s) => s.name), []);
      await ws.close();
    } finally {
      await gateway.stop();
      await receiver.close();
    }
  });
}

/** Parses the Prometheus text format into `name{labels}` -> value, checking every line. */
function parseMetrics(text: string): Map<string, number> {
  const series = new Map<string, number>();
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("# HELP ") || line.startsWith("# TYPE ")) continue;
    const m = line.match(
      /^([a-zA-Z_:][a-zA-Z0-9_:]*(?:\{[^}]*\})?) (-?[0-9.eE+-]+|NaN|Nan|[+-]Inf)$/,
    );
    assert.ok(m, `not Prometheus text: ${line}`);
    series.set(m[1], Number(m[2]));
  }
  return series;
}

Deno.test("telemetry: /metrics parses and its counters move by exactly the traffic sent", async () => {
  const gateway = await startGateway({
    TASTESYNC_DATA_DIR: await Deno.makeTempDir({ prefix: "tastesync-metrics-" }),
    TASTESYNC_HTTP_BODY_LIMIT_BYTES: "2048",
  });
  const scrape = async () => {
    const res = await fetch(`${gateway.url}/metrics`);
    assert.match(res.headers.get("content-type") ?? "", /^text\/plain/);
    return parseMetrics(await res.text());
  };
  try {
    const ws = await subscribeWs(gateway.url);
    const before = await scrape();
    const statuses = [];
    statuses.push(
      (await gateway.post("/v1/identifications", identification({ event_id: "m1" }))).status,
    );
    statuses.push(
      (await gateway.post("/v1/identifications", identification({ event_id: "m2" }))).status,
    );
    statuses.push(
      (await gateway.post("/v1/identifications", identification({ event_id: "m1" }))).status,
    );
    statuses.push(
      (await gateway.post(
        "/v1/identifications",
        identification({ event_id: "m1", location: "Bar" }),
      )).status,
    );
    statuses.push(
      (await gateway.post("/v1/identifications", identification({ confidence: 9 }))).status,
    );
    statuses.push((await gateway.post("/v1/identifications", "{oops")).status);
    statuses.push(
      (await gateway.post("/v1/identifications", identification({ location: "x".repeat(4000) })))
        .status,
    );
    statuses.push(
      (await gateway.post("/v1/identifications", "a=b", { "content-type": "text/plain" })).status,
    );
    assert.deepEqual(statuses, [202, 202, 200, 409, 422, 400, 413, 415]);
    await ws.events(2);
    const after = await scrape();
    const delta = (name: string) => (after.get(name) ?? 0) - (before.get(name) ?? 0);

    const published = (type: string, result: string) =>
      delta(`tastesync_events_published_total{event_type="${type}",result="${result}"}`);
    assert.equal(published("CustomerIdentified", "accepted"), 2);
    assert.equal(published("CustomerIdentified", "duplicate"), 1);
    assert.equal(published("CustomerIdentified", "conflict"), 1);
    assert.equal(published("CustomerIdentified", "rejected"), 1);
    assert.equal(published("unknown", "rejected"), 3);
    for (
      const [reason, n] of [
        ["validation", 1],
        ["malformed_json", 1],
        ["too_large", 1],
        ["unsupported_media_type", 1],
        ["conflict", 1],
      ] as const
    ) {
      assert.equal(delta(`tastesync_publish_errors_total{reason="${reason}"}`), n, reason);
    }
    assert.equal(delta("tastesync_dedup_hits_total"), 1);
    assert.equal(delta('tastesync_publish_duration_seconds_count{backend="embedded"}'), 4);
    assert.equal(
      delta('tastesync_events_delivered_total{mode="durable",transport="websocket"}'),
      2,
    );
    assert.equal(
      delta('tastesync_delivery_lag_seconds_count{mode="durable",transport="websocket"}'),
      2,
    );
    assert.equal(after.get('tastesync_subscribers{mode="durable",transport="websocket"}'), 1);
    assert.ok((after.get("tastesync_process_resident_memory_bytes") ?? 0) > 0);
    assert.ok(after.has("tastesync_nodejs_eventloop_lag_seconds"));
    await ws.close();
  } finally {
    await gateway.stop();
  }
});

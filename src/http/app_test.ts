import assert from "node:assert/strict";
import { InProcessBus, type LiveMessage } from "../bus/live_bus.ts";
import { EventLogUnavailableError } from "../errors.ts";
import { EventRegistry } from "../events/registry.ts";
import { CUSTOMER_IDENTIFIED } from "../events/customer_identified.ts";
import { DedupWindow } from "../log/dedup_window.ts";
import type { AppendResult, EventLog, LogRecord } from "../log/event_log.ts";
import { Publisher } from "../publish/publisher.ts";
import { jsonLogger } from "../telemetry/logger.ts";
import { Metrics } from "../telemetry/metrics.ts";
import { createApp } from "./app.ts";
import { DESIGN_EVENT } from "../../testing/design_event.ts";

/** An in-memory log for this module's tests: one partition, dedup by window. */
class MemoryLog implements Pick<EventLog, "backend" | "append" | "ready"> {
  readonly backend = "memory";
  readonly records: LogRecord[] = [];
  readonly #dedup = new DedupWindow(60_000);
  down = false;

  append(record: LogRecord): Promise<AppendResult> {
    if (this.down) return Promise.reject(new EventLogUnavailableError("down"));
    try {
      const dup = this.#dedup.check(record.eventId, record.fingerprint);
      if (dup) return Promise.resolve(dup);
    } catch (error) {
      return Promise.reject(error);
    }
    const offset = String(this.records.push(record) - 1);
    this.#dedup.remember(record.eventId, { ...record, partition: 0, offset, at: Date.now() });
    return Promise.resolve({ topic: record.topic, partition: 0, offset, duplicate: false });
  }
  ready() {
    return Promise.resolve(!this.down);
  }
}

const identification = () => structuredClone(CUSTOMER_IDENTIFIED.versions.v1.example);

function setup(limits = { bodyLimitBytes: 1024, batchBodyLimitBytes: 1024 * 1024 }) {
  const log = new MemoryLog();
  const bus = new InProcessBus();
  const mirrored: LiveMessage[] = [];
  void bus.subscribe("notifications.>", (m) => mirrored.push(m));
  const registry = new EventRegistry();
  const publisher = new Publisher(log, bus, {
    topic: "customer-events",
    subjectPrefix: "notifications",
    onMirrorDropped: () => {},
  });
  const app = createApp({
    publisher,
    registry,
    log,
    bus,
    logger: jsonLogger("error", () => {}),
    metrics: new Metrics(),
    ...limits,
    documents: { topic: "customer-events", partitions: 3, subjectPrefix: "notifications" },
  });
  const post = (
    path: string,
    body: unknown,
    headers: Record<string, string> = {},
  ): Promise<Response> =>
    Promise.resolve(
      app.request(path, {
        method: "POST",
        headers: { "content-type": "application/json", ...headers },
        body: typeof body === "string" || body instanceof Uint8Array
          ? body as BodyInit
          : JSON.stringify(body),
      }),
    );
  return { app, log, mirrored, post };
}

async function assertProblem(res: Response, status: number, type: string) {
  assert.equal(res.status, status);
  assert.equal(res.headers.get("content-type"), "application/problem+json");
  const body = await res.json();
  assert.equal(body.status, status);
  assert.equal(body.type, `/docs#problem-${type}`);
  return body;
}

Deno.test("POST /v1/identifications stores, answers 202, and mirrors", async () => {
  const { log, mirrored, post } = setup();
  const res = await post("/v1/identifications", identification(), { "idempotency-key": "id-1" });
  assert.equal(res.status, 202);
  assert.deepEqual(await res.json(), {
    event_id: "id-1",
    event_type: "CustomerIdentified",
    topic: "customer-events",
    partition: 0,
    offset: "0",
    duplicate: false,
  });
  assert.equal(log.records.length, 1);
  assert.equal(log.records[0].key, "cust123");
  await Promise.resolve();
  assert.equal(mirrored.length, 1);
  assert.equal(mirrored[0].subject, "notifications.customer_identified");
  assert.equal(mirrored[0].headers["Nats-Msg-Id"], "id-1");
  assert.deepEqual(JSON.parse(mirrored[0].data).data, identification());
});

Deno.test("the same id and content is a 200 duplicate; other content is 409", async () => {
  const { log, post } = setup();
  const body = { ...identification(), event_id: "dup-1" };
  assert.equal((await post("/v1/identifications", body)).status, 202);
  const again = await post("/v1/identifications", body);
  assert.equal(again.status, 200);
  assert.equal((await again.json()).duplicate, true);
  await assertProblem(
    await post("/v1/identifications", { ...body, location: "Table 4" }),
    409,
    "event-id-conflict",
  );
  assert.equal(log.records.length, 1);
});

Deno.test("concurrent posts of one id write one record", async () => {
  const { log, post } = setup();
  const body = { ...identification(), event_id: "race-1" };
  const statuses = await Promise.all(
    [1, 2, 3, 4].map(() => post("/v1/identifications", body).then((r) => r.status)),
  );
  assert.deepEqual(statuses.sort(), [200, 200, 200, 202]);
  assert.equal(log.records.length, 1);
});

Deno.test("bad input gets its problem and writes nothing", async () => {
  const { app, log, post } = setup();
  await assertProblem(await post("/v1/identifications", "{nope"), 400, "malformed-json");
  const invalid = await assertProblem(
    await post("/v1/identifications", { ...identification(), confidence: 2 }),
    422,
    "validation-failed",
  );
  assert.deepEqual(invalid.errors.map((e: { pointer: string }) => e.pointer), ["/confidence"]);
  await assertProblem(
    await post("/v1/identifications", { ...identification(), location: "x".repeat(2000) }),
    413,
    "body-too-large",
  );
  const chunked = new ReadableStream({
    start(c) {
      for (let i = 0; i < 10; i++) c.enqueue(new TextEncoder().encode(" ".repeat(200)));
      c.close();
    },
  });
  await assertProblem(
    await app.request("/v1/identifications", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: chunked,
    }),
    413,
    "body-too-large",
  );
  await assertProblem(
    await app.request("/v1/identifications", {
      method: "POST",
      body: "x",
      headers: { "content-type": "text/plain" },
    }),
    415,
    "unsupported-media-type",
  );
  await assertProblem(
    await app.request("/v1/identifications", { method: "POST", body: "{}" }),
    415,
    "unsupported-media-type",
  );
  assert.equal(log.records.length, 0);
});

Deno.test("an unavailable log is a 503 with Retry-After, and /readyz says so", async () => {
  const { app, log, post } = setup();
  log.down = true;
  const res = await post("/v1/identifications", identification());
  assert.equal(res.headers.get("retry-after"), "1");
  await assertProblem(res, 503, "log-unavailable");
  const ready = await app.request("/readyz");
  assert.equal(ready.status, 503);
  assert.equal((await ready.json()).components.log.status, "down");
  log.down = false;
  assert.equal((await app.request("/readyz")).status, 200);
});

Deno.test("POST /v1/events takes a full envelope", async () => {
  const { post } = setup();
  const res = await post("/v1/events", {
    event_type: "CustomerIdentified",
    version: "v1",
    event_id: "env-1",
    data: identification(),
  });
  assert.equal(res.status, 202);
  assert.equal((await res.json()).event_id, "env-1");
  await assertProblem(
    await post("/v1/events", { event_type: "Nope", version: 1, data: {} }),
    422,
    "validation-failed",
  );
});

Deno.test("POST /v1/events/batch gives one result per item, each on its own", async () => {
  const { log, post } = setup();
  const event = (id: string, data: unknown = identification()) => ({
    event_type: "CustomerIdentified",
    version: "v1",
    event_id: id,
    data,
  });
  const res = await post("/v1/events/batch", {
    events: [event("b1"), event("b2", { nope: 1 }), event("b1"), event("b3")],
  });
  assert.equal(res.status, 200);
  const { results } = await res.json();
  assert.deepEqual(results.map((r: { status: number }) => r.status), [202, 422, 200, 202]);
  assert.equal(results[1].errors[0].pointer, "/data/customer_id");
  assert.equal(log.records.length, 2);
  await assertProblem(await post("/v1/events/batch", { events: [] }), 422, "validation-failed");
  await assertProblem(
    await post("/v1/events/batch", { events: Array(501).fill(event("x")) }),
    422,
    "validation-failed",
  );
});

Deno.test("OpenAPI document and docs come from the registry", async () => {
  const { app } = setup();
  const doc = await (await app.request("/openapi.json")).json();
  assert.equal(doc.openapi, "3.1.0");
  const data = doc.components.schemas.CustomerIdentifiedV1.properties.data;
  assert.equal(data.properties.confidence.maximum, 1);
  assert.equal(data.properties.beacon.properties.rssi.minimum, -127);
  const streamParams = doc.paths["/v1/stream"].get.parameters.map((p: { name: string }) => p.name);
  assert.ok(streamParams.includes("min_confidence") && streamParams.includes("Last-Event-ID"));
  const html = await (await app.request("/docs")).text();
  assert.match(html, /CustomerIdentified v1/);
  assert.match(html, /id="problem-validation-failed"/);
  await assertProblem(await app.request("/nope"), 404, "not-found");
});

Deno.test('the design\'s example event is stored and mirrored as given, version "v1"', async () => {
  const { log, mirrored, post } = setup();
  assert.equal((await post("/v1/events", DESIGN_EVENT)).status, 202);
  const canonical = JSON.stringify(JSON.parse(DESIGN_EVENT));
  assert.equal(log.records[0].value, canonical);
  await Promise.resolve();
  assert.equal(mirrored[0].data, canonical);
  const alias = JSON.parse(DESIGN_EVENT);
  alias.version = 1;
  const again = await post("/v1/events", alias);
  assert.equal(again.status, 200, "version 1 is v1, so this is the same event");
  const v2 = await assertProblem(
    await post("/v1/events", { ...alias, event_id: "e-v2", version: "v2" }),
    422,
    "validation-failed",
  );
  assert.match(v2.errors[0].detail, /"v1"/);
  assert.equal(log.records.length, 1);
});

Deno.test("bodies that are not I-JSON get 400 not-i-json and write nothing", async () => {
  const { log, post } = setup();
  const utf8 = new TextEncoder().encode(DESIGN_EVENT);
  const invalid = new Uint8Array([...utf8.slice(0, 60), 0xff, 0xfe, ...utf8.slice(60)]);
  const latin1 = new TextEncoder().encode(DESIGN_EVENT.replace("Table 3", "Caf\u00e9"));
  const cases: [string, BodyInit, Record<string, string>, RegExp][] = [
    ["invalid UTF-8", invalid, {}, /not valid UTF-8/],
    ["latin1", latin1, { "content-type": "application/json; charset=latin1" }, /charset=latin1/],
    ["duplicate", DESIGN_EVENT.replace('"location"', '"location":"x","location"'), {}, /twice/],
    [
      "lone surrogate",
      DESIGN_EVENT.replace('"cust123"', '"cust\\ud800"'),
      {},
      /lone UTF-16 surrogate/,
    ],
  ];
  for (const [name, body, headers, detail] of cases) {
    const problemBody = await assertProblem(
      await post("/v1/events", body, headers),
      400,
      "not-i-json",
    );
    assert.match(problemBody.detail, detail, name);
  }
  const utf8Declared = await post("/v1/events", DESIGN_EVENT, {
    "content-type": "application/json; charset=UTF-8",
  });
  assert.equal(utf8Declared.status, 202);
  assert.equal(log.records.length, 1);
});

Deno.test("a structured CloudEvent maps to the envelope; every record has ce_ headers", async () => {
  const { log, post } = setup();
  const ce = {
    specversion: "1.0",
    id: "ce-1",
    source: "/venues/100/beacons/3",
    type: "CustomerIdentified",
    time: "2025-03-02T12:00:00Z",
    dataversion: "v1",
    datacontenttype: "application/json",
    data: identification(),
  };
  const headers = { "content-type": "application/cloudevents+json" };
  assert.equal((await post("/v1/events", ce, headers)).status, 202);
  assert.deepEqual(JSON.parse(log.records[0].value), {
    event_id: "ce-1",
    event_type: "CustomerIdentified",
    timestamp: "2025-03-02T12:00:00Z",
    version: "v1",
    data: identification(),
  });
  assert.equal(log.records[0].headers.ce_source, "/venues/100/beacons/3");
  assert.equal(log.records[0].headers.ce_id, "ce-1");
  const { dataversion: _, ...bySchema } = ce;
  const schema = { ...bySchema, id: "ce-2", dataschema: "https://tastesync.example/v1" };
  assert.equal((await post("/v1/events", schema, headers)).status, 202);
  const bad = await assertProblem(
    await post(
      "/v1/events",
      { ...ce, id: "ce-3", time: "2025-03-02T13:00:00+01:00", x: 1 },
      headers,
    ),
    422,
    "validation-failed",
  );
  assert.deepEqual(bad.errors.map((e: { pointer: string }) => e.pointer), ["/x"]);
  const time = await assertProblem(
    await post("/v1/events", { ...ce, id: "ce-3", time: "2025-03-02T13:00:00+01:00" }, headers),
    422,
    "validation-failed",
  );
  assert.deepEqual(time.errors.map((e: { pointer: string }) => e.pointer), ["/time"]);
  await post("/v1/identifications", identification(), { "idempotency-key": "plain" });
  assert.equal(log.records.length, 3);
  assert.equal(log.records[2].headers.ce_type, "CustomerIdentified");
  assert.equal(log.records[2].headers.ce_specversion, "1.0");
});

Deno.test("a caller's traceparent reaches the record with tracing off", async () => {
  const { log, post } = setup();
  const traceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
  await post("/v1/identifications", identification(), { traceparent, tracestate: "a=1" });
  assert.equal(log.records[0].headers.traceparent, traceparent);
  assert.equal(log.records[0].headers.tracestate, "a=1");
  await post("/v1/identifications", { ...identification(), customer_id: "c2" }, {
    traceparent: "00-00000000000000000000000000000000-b7ad6b7169203331-01",
  });
  assert.equal(log.records[1].headers.traceparent, undefined, "an invalid one is dropped");
});

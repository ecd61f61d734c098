/**
 * The event contract end to end on real Kafka and NATS: the source design's
 * example event is stored, mirrored and delivered exactly as the design
 * writes it; a CloudEvents SDK reads the record; the caller's trace context
 * passes through with tracing off; the AsyncAPI document parses.
 */
import assert from "node:assert/strict";
import { Parser } from "@asyncapi/parser";
import { CloudEvent, Kafka as CloudEventsKafka } from "cloudevents";
import {
  KAFKA_BROKERS,
  NATS_URL,
  natsClient,
  readTopic,
  startGateway,
  subscribeWs,
  uniqueTopic,
  waitReady,
} from "../testing/harness.ts";
import { DESIGN_EVENT } from "../testing/design_event.ts";

const CANONICAL = JSON.stringify(JSON.parse(DESIGN_EVENT));
const TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

const kafkaEnv = (topic: string) => ({
  TASTESYNC_KAFKA_BROKERS: KAFKA_BROKERS,
  TASTESYNC_KAFKA_TOPIC: topic,
  TASTESYNC_NATS_URL: NATS_URL,
  TASTESYNC_NATS_SUBJECT_PREFIX: `it.${topic.replaceAll("-", "_")}`,
  OTEL_DENO: "",
});

Deno.test("contract: the design's event is stored, mirrored and delivered as the design writes it", async () => {
  const topic = uniqueTopic("contract");
  const env = kafkaEnv(topic);
  const nc = await natsClient();
  const mirror = nc.subscribe(`${env.TASTESYNC_NATS_SUBJECT_PREFIX}.>`, { max: 1 });
  await nc.flush();
  const gateway = await startGateway(env);
  try {
    await waitReady(gateway.url, "ready");
    const ws = await subscribeWs(gateway.url);
    const res = await fetch(`${gateway.url}/v1/events`, {
      method: "POST",
      headers: { "content-type": "application/json", traceparent: TRACEPARENT },
      body: DESIGN_EVENT,
    });
    assert.equal(res.status, 202);
    await res.body?.cancel();

    const [frame] = await ws.events(1);
    assert.equal(JSON.stringify(frame.event), CANONICAL);
    assert.equal(frame.traceparent, TRACEPARENT, "the caller's trace reaches the subscriber");
    await ws.close();

    for await (const msg of mirror) {
      assert.equal(msg.string(), CANONICAL);
      assert.equal(msg.headers?.get("traceparent"), TRACEPARENT);
    }

    const [record] = await readTopic(topic, (m) => m.length >= 1);
    assert.equal(record.value?.toString(), CANONICAL);
    assert.equal(record.headers?.traceparent?.toString(), TRACEPARENT);

    // An independent CloudEvents SDK reads the record through the Kafka binding.
    const headers = Object.fromEntries(
      Object.entries(record.headers ?? {}).map(([k, v]) => [k, v?.toString()]),
    );
    const event = CloudEventsKafka.toEvent({
      key: record.key?.toString(),
      value: record.value?.toString(),
      headers,
      timestamp: record.timestamp,
    } as never) as CloudEvent<unknown>;
    assert.equal(event.specversion, "1.0");
    assert.equal(event.id, "evt-uuid-1234-5678-9012");
    assert.equal(event.type, "CustomerIdentified");
    assert.equal(event.source, "/tastesync/gateway");
    assert.equal(Date.parse(event.time!), Date.parse("2025-03-02T12:00:00Z"));
    assert.deepEqual(event.data, JSON.parse(DESIGN_EVENT));
    assert.equal(event.validate(), true);
  } finally {
    await gateway.stop();
    await nc.close();
  }
});

Deno.test("contract: a structured CloudEvent is accepted and read back by the CloudEvents SDK", async () => {
  const topic = uniqueTopic("contract-ce");
  const gateway = await startGateway(kafkaEnv(topic));
  try {
    const sent = new CloudEvent({
      id: "ce-evt-1",
      type: "CustomerIdentified",
      source: "/venues/100/beacons/3",
      time: "2025-03-02T12:00:00Z",
      dataversion: "v1",
      datacontenttype: "application/json",
      data: JSON.parse(DESIGN_EVENT).data,
    });
    const body = JSON.stringify(sent);
    const res = await fetch(`${gateway.url}/v1/events`, {
      method: "POST",
      headers: { "content-type": "application/cloudevents+json" },
      body,
    });
    assert.equal(res.status, 202, await res.clone().text());
    await res.body?.cancel();
    const [record] = await readTopic(topic, (m) => m.length >= 1);
    const envelope = JSON.parse(record.value!.toString());
    // The SDK writes `time` with milliseconds; the gateway keeps what it is sent.
    assert.deepEqual(envelope, {
      ...JSON.parse(DESIGN_EVENT),
      event_id: "ce-evt-1",
      timestamp: JSON.parse(body).time,
    });
    const headers = Object.fromEntries(
      Object.entries(record.headers ?? {}).map(([k, v]) => [k, v?.toString()]),
    );
    const read = CloudEventsKafka.toEvent({
      key: record.key?.toString(),
      value: record.value?.toString(),
      headers,
      timestamp: record.timestamp,
    } as never) as CloudEvent<unknown>;
    assert.equal(read.id, sent.id);
    assert.equal(read.type, sent.type);
    assert.equal(read.source, sent.source);
    assert.equal(Date.parse(read.time!), Date.parse(sent.time!));
    assert.equal(read.dataversion, "v1");
  } finally {
    await gateway.stop();
  }
});

Deno.test("contract: /asyncapi.json is a valid AsyncAPI 3.0 document for the registry", async () => {
  const gateway = await startGateway({
    TASTESYNC_DATA_DIR: await Deno.makeTempDir({ prefix: "tastesync-asyncapi-" }),
  });
  try {
    const text = await (await fetch(`${gateway.url}/asyncapi.json`)).text();
    const { document, diagnostics } = await new Parser().parse(text);
    const errors = diagnostics.filter((d) => d.severity === 0);
    assert.deepEqual(errors, [], "the AsyncAPI parser reports no errors");
    assert.ok(document);
    assert.equal(document.version(), "3.0.0");
    const channels = document.channels().all().map((c) => c.address());
    assert.deepEqual(channels.sort(), [
      "/v1/stream",
      "/v1/subscribe",
      "customer-events",
      "notifications.customer_identified",
    ]);
    const log = document.channels().all().find((c) => c.address() === "customer-events")!;
    const message = log.messages().all()[0];
    assert.equal(message.name(), "CustomerIdentifiedV1");
    assert.deepEqual(message.payload()?.required(), [
      "event_id",
      "event_type",
      "timestamp",
      "version",
      "data",
    ]);
    assert.equal(message.payload()?.properties()?.version.const(), "v1");
    const frames = document.channels().all().find((c) => c.address() === "/v1/subscribe")!
      .messages().all().map((m) => m.name()).sort();
    assert.deepEqual(frames, ["ack", "acked", "auth", "error", "event", "heartbeat", "ready"]);
    const docs = await (await fetch(`${gateway.url}/docs`)).text();
    assert.match(docs, /href="\/asyncapi.json"/);
  } finally {
    await gateway.stop();
  }
});

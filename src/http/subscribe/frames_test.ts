import assert from "node:assert/strict";
import { InvalidCursorError } from "../../subscribe/cursor.ts";
import { Delivery } from "../../subscribe/delivery.ts";
import { ROOT_CONTEXT } from "../../telemetry/tracing.ts";
import {
  CLOSE_CODES,
  CLOSE_REASONS,
  errorFrame,
  handleClientFrame,
  HEARTBEAT_FRAME,
  readyFrame,
  SOCKET_FAILURE_CODES,
  SSE_HEARTBEAT_FRAME,
  sseErrorFrame,
  sseEventFrame,
  sseMessage,
  sseReadyFrame,
  sseRetryFrame,
  wsEventFrame,
} from "./frames.ts";

const ENVELOPE = {
  event_id: "evt-1",
  event_type: "CustomerIdentified",
  timestamp: "2025-03-02T12:00:00Z",
  version: "v1",
  data: { customer_id: "c1" },
};
const JSON_TEXT = JSON.stringify(ENVELOPE);
const TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";

const delivery = (
  cursor: string | undefined,
  trace: Record<string, string> = {},
  envelope: typeof ENVELOPE = ENVELOPE,
) =>
  new Delivery(envelope, JSON.stringify(envelope), cursor, undefined, {
    headers: trace,
    context: ROOT_CONTEXT,
  });

Deno.test("sseMessage writes one data line per line of data", () => {
  assert.equal(sseMessage({ data: "one" }), "data: one\n\n");
  assert.equal(sseMessage({ data: "a\nb\r\nc\rd" }), "data: a\ndata: b\ndata: c\ndata: d\n\n");
  assert.equal(sseMessage({ data: "" }), "data: \n\n");
});

Deno.test("sseMessage writes comment, retry, id, event, data in that order", () => {
  assert.equal(
    sseMessage({ data: "{}", event: "ready", id: "c1", retry: 2000, comment: "hi" }),
    ": hi\nretry: 2000\nid: c1\nevent: ready\ndata: {}\n\n",
  );
  assert.equal(sseMessage({ comment: "heartbeat" }), ": heartbeat\n\n");
  assert.equal(sseMessage({ retry: 2000 }), "retry: 2000\n\n");
});

Deno.test("sseMessage refuses a line break in id, event or comment", () => {
  for (const bad of ["a\nb", "a\rb", "a\r\nb", "\n"]) {
    assert.throws(() => sseMessage({ id: bad, data: "{}" }), TypeError);
    assert.throws(() => sseMessage({ event: bad, data: "{}" }), TypeError);
    assert.throws(() => sseMessage({ comment: bad }), TypeError);
  }
});

Deno.test("the WebSocket event frame carries cursor, traceparent and the stored JSON", () => {
  assert.equal(
    wsEventFrame(delivery("cur-1", { traceparent: TRACEPARENT, tracestate: "x=1" })),
    `{"type":"event","cursor":"cur-1","traceparent":"${TRACEPARENT}","event":${JSON_TEXT}}`,
  );
  assert.equal(
    wsEventFrame(delivery(undefined)),
    `{"type":"event","cursor":null,"event":${JSON_TEXT}}`,
  );
  assert.deepEqual(JSON.parse(wsEventFrame(delivery("cur-1"))), {
    type: "event",
    cursor: "cur-1",
    event: ENVELOPE,
  });
});

Deno.test("the SSE event frame has the cursor as id and the event type as event", () => {
  assert.equal(
    sseEventFrame(delivery("cur-1")),
    `id: cur-1\nevent: CustomerIdentified\ndata: ${JSON_TEXT}\n\n`,
  );
  assert.equal(
    sseEventFrame(delivery(undefined)),
    `event: CustomerIdentified\ndata: ${JSON_TEXT}\n\n`,
  );
  assert.throws(
    () => sseEventFrame(delivery("cur-1", {}, { ...ENVELOPE, event_type: "X\ndata: injected" })),
    TypeError,
  );
});

Deno.test("a delivery builds each frame once and shares it", () => {
  let builds = 0;
  const build = (d: Delivery) => `${++builds}:${d.cursor}`;
  const d = delivery("cur-1");
  assert.equal(d.frame(build), "1:cur-1");
  assert.equal(d.frame(build), "1:cur-1");
  assert.equal(d.frame(wsEventFrame), wsEventFrame(d));
  assert.equal(d.frame(sseEventFrame), sseEventFrame(d));
  assert.equal(builds, 1);
});

Deno.test("ready, heartbeat and error frames, over WebSocket and SSE", () => {
  const info = { mode: "durable", topic: "customer-events", cursor: "cur-0" };
  const ready = '{"type":"ready","mode":"durable","topic":"customer-events","cursor":"cur-0"}';
  assert.equal(readyFrame(info), ready);
  assert.equal(sseReadyFrame(info), `event: ready\ndata: ${ready}\n\n`);
  assert.equal(HEARTBEAT_FRAME, '{"type":"heartbeat"}');
  assert.equal(SSE_HEARTBEAT_FRAME, ": heartbeat\n\n");
  const error = '{"type":"error","error":"shutdown","detail":"Bye"}';
  assert.equal(errorFrame("shutdown", "Bye"), error);
  assert.equal(sseErrorFrame("shutdown", "Bye"), `event: error\ndata: ${error}\n\n`);
  assert.equal(sseRetryFrame(2000), "retry: 2000\n\n");
});

Deno.test("every close reason and socket failure has a close code", () => {
  assert.deepEqual(CLOSE_CODES, {
    shutdown: 1001,
    frameTooLarge: 1009,
    unavailable: 1011,
    badFrame: 4400,
    unauthorized: 4401,
    forbidden: 4403,
    slowConsumer: 4429,
  });
  assert.equal(CLOSE_REASONS["slow-consumer"].code, 4429);
  assert.equal(CLOSE_REASONS.shutdown.code, 1001);
  assert.equal(CLOSE_REASONS["log-unavailable"].code, 1011);
  assert.equal(CLOSE_REASONS["token-expired"].code, 4401);
  assert.deepEqual(SOCKET_FAILURE_CODES, {
    "unavailable": 1011,
    "frame-too-large": 1009,
    "bad-frame": 4400,
    "unauthorized": 4401,
    "forbidden": 4403,
  });
});

Deno.test("handleClientFrame acks a cursor and says what is wrong with anything else", () => {
  const acked: string[] = [];
  const subscription = {
    ack(cursor: string) {
      if (cursor === "unknown") throw new InvalidCursorError();
      acked.push(cursor);
    },
  };
  assert.equal(handleClientFrame('{"type":"ack","cursor":"c1"}', subscription), undefined);
  assert.deepEqual(acked, ["c1"]);
  assert.equal(handleClientFrame("{", subscription), "Frames must be JSON text");
  assert.equal(
    handleClientFrame('{"type":"nack"}', subscription),
    'Client frames are {"type":"ack","cursor":"..."} and {"type":"auth","token":"..."}',
  );
  assert.equal(
    handleClientFrame("null", subscription),
    'Client frames are {"type":"ack","cursor":"..."} and {"type":"auth","token":"..."}',
  );
  assert.equal(
    handleClientFrame('{"type":"ack"}', subscription),
    "An ack needs the cursor of an event",
  );
  assert.equal(
    handleClientFrame('{"type":"ack","cursor":"c1"}', undefined),
    "Wait for the ready frame before acking",
  );
  assert.equal(
    handleClientFrame('{"type":"ack","cursor":"unknown"}', subscription),
    new InvalidCursorError().message,
  );
});

Deno.test("handleClientFrame hands an auth frame's token over, and refuses one without a token", () => {
  const tokens: string[] = [];
  const onAuth = (token: string) => void tokens.push(token);
  assert.equal(handleClientFrame('{"type":"auth","token":"t1"}', undefined, onAuth), undefined);
  assert.deepEqual(tokens, ["t1"]);
  assert.equal(
    handleClientFrame('{"type":"auth","token":7}', undefined, onAuth),
    "An auth frame needs a token",
  );
  assert.deepEqual(tokens, ["t1"]);
});

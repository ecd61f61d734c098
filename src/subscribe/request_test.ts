import assert from "node:assert/strict";
import { encodeCursor } from "./cursor.ts";
import { parseSubscriptionRequest } from "./request.ts";

const parse = (query: string, lastEventId?: string) =>
  parseSubscriptionRequest(new URLSearchParams(query), "customer-events", lastEventId);

Deno.test("defaults: durable, latest, the default topic, no filters", () => {
  const r = parse("");
  assert.ok(r.ok);
  assert.deepEqual(r.request, {
    topic: "customer-events",
    mode: "durable",
    group: undefined,
    from: "latest",
    filter: {
      eventType: undefined,
      location: undefined,
      customerId: undefined,
      minConfidence: undefined,
    },
  });
});

Deno.test("filters, group and a cursor (or Last-Event-ID) are read", () => {
  const r = parse(
    "group=notify&location=Table%203&customer_id=c1&min_confidence=0.5&event_type=CustomerIdentified",
  );
  assert.ok(r.ok);
  assert.equal(r.request.group, "notify");
  assert.deepEqual(r.request.filter, {
    eventType: "CustomerIdentified",
    location: "Table 3",
    customerId: "c1",
    minConfidence: 0.5,
  });
  const cursor = encodeCursor({ topic: "customer-events", next: new Map([[1, 5n]]) });
  const resumed = parse("", cursor);
  assert.ok(resumed.ok);
  assert.deepEqual(resumed.request.from, { topic: "customer-events", next: new Map([[1, 5n]]) });
});

Deno.test("bad queries list what is wrong", () => {
  const pointers = (q: string) => {
    const r = parse(q);
    assert.ok(!r.ok, q);
    return r.errors.map((e) => e.pointer);
  };
  assert.deepEqual(pointers("nope=1"), ["/nope"]);
  assert.deepEqual(pointers("mode=sometimes"), ["/mode"]);
  assert.deepEqual(pointers("min_confidence=2"), ["/min_confidence"]);
  assert.deepEqual(pointers("from=garbage"), ["/from"]);
  assert.deepEqual(pointers("group=a%20b"), ["/group"]);
  assert.deepEqual(pointers("mode=live&group=g"), ["/mode"]);
  assert.deepEqual(pointers("topic=a&topic=b"), ["/topic"]);
  const other = encodeCursor({ topic: "other", next: new Map([[0, 1n]]) });
  assert.deepEqual(pointers(`from=${other}`), ["/from"]);
});

import assert from "node:assert/strict";
import { encodeCursor } from "./cursor.ts";
import { CUSTOMER_IDENTIFIED } from "../events/customer_identified.ts";
import { EventRegistry } from "../events/registry.ts";
import { MATCH_ALL } from "./filter.ts";
import { parseSubscriptionRequest } from "./request.ts";

const registry = new EventRegistry();
const parse = (query: string, lastEventId?: string) =>
  parseSubscriptionRequest(registry, new URLSearchParams(query), "customer-events", lastEventId);
const event = (data: Record<string, unknown>) => ({
  event_id: "e",
  event_type: "CustomerIdentified",
  timestamp: "2025-03-02T12:00:00Z",
  version: "v1",
  data: { ...CUSTOMER_IDENTIFIED.versions.v1.example, ...data },
});

Deno.test("defaults: durable, latest, the default topic, no filters", () => {
  const r = parse("");
  assert.ok(r.ok);
  assert.deepEqual(r.request, {
    topic: "customer-events",
    mode: "durable",
    group: undefined,
    from: "latest",
    filter: MATCH_ALL,
  });
});

Deno.test("filters, group and a cursor (or Last-Event-ID) are read", () => {
  const r = parse(
    "group=notify&location=Table%203&customer_id=c1&min_confidence=0.5&event_type=CustomerIdentified",
  );
  assert.ok(r.ok);
  assert.equal(r.request.group, "notify");
  const matches = r.request.filter;
  assert.ok(matches(event({ location: "Table 3", customer_id: "c1", confidence: 0.5 })));
  assert.ok(!matches(event({ location: "Table 3", customer_id: "c1", confidence: 0.49 })));
  assert.ok(!matches(event({ location: "Table 4", customer_id: "c1", confidence: 0.9 })));
  assert.ok(!matches(event({ location: "Table 3", customer_id: "c2", confidence: 0.9 })));
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
  assert.deepEqual(pointers("min_confidence=lots"), ["/min_confidence"]);
  assert.deepEqual(pointers("venue=70000"), ["/venue"]);
  assert.deepEqual(pointers("location="), ["/location"]);
  assert.deepEqual(pointers("from=garbage"), ["/from"]);
  assert.deepEqual(pointers("group=a%20b"), ["/group"]);
  assert.deepEqual(pointers("mode=live&group=g"), ["/mode"]);
  assert.deepEqual(pointers("topic=a&topic=b"), ["/topic"]);
  const other = encodeCursor({ topic: "other", next: new Map([[0, 1n]]) });
  assert.deepEqual(pointers(`from=${other}`), ["/from"]);
});

import assert from "node:assert/strict";
import { CUSTOMER_IDENTIFIED } from "../events/customer_identified.ts";
import type { EventTypeDefinition } from "../events/event_type.ts";
import { EventRegistry } from "../events/registry.ts";
import { compileFilter, MATCH_ALL } from "./filter.ts";

const envelope = {
  event_id: "e",
  event_type: "CustomerIdentified",
  timestamp: "2026-11-23T18:04:05.120Z",
  version: "v1",
  data: structuredClone(CUSTOMER_IDENTIFIED.versions.v1.example),
};
const registry = new EventRegistry();
const filter = (eventType: string | undefined, fields: Record<string, string | number>) =>
  compileFilter(registry, { eventType, fields: new Map(Object.entries(fields)) });

Deno.test("filters match on type and on the fields the type declares", () => {
  assert.equal(filter(undefined, {}), MATCH_ALL);
  assert.ok(
    filter("CustomerIdentified", { location: "Table 3", customer_id: "cust123" })(envelope),
  );
  assert.ok(filter(undefined, { min_confidence: 0.95 })(envelope));
  assert.ok(!filter(undefined, { min_confidence: 0.96 })(envelope));
  assert.ok(filter(undefined, { venue: 100 })(envelope));
  assert.ok(!filter(undefined, { venue: 101 })(envelope));
  assert.ok(!filter(undefined, { location: "Table 4" })(envelope));
  assert.ok(!filter(undefined, { customer_id: "other" })(envelope));
  assert.ok(!filter("Other", {})(envelope));
});

Deno.test("a field filter passes no event of a type that does not declare it", () => {
  const other: EventTypeDefinition = {
    ...CUSTOMER_IDENTIFIED,
    name: "Other",
    subject: "other",
    endpoint: undefined,
    filters: { venue: CUSTOMER_IDENTIFIED.filters.venue },
  };
  const both = new EventRegistry([CUSTOMER_IDENTIFIED, other]);
  const byLocation = compileFilter(both, { fields: new Map([["location", "Table 3"]]) });
  assert.ok(byLocation(envelope));
  assert.ok(!byLocation({ ...envelope, event_type: "Other" }));
  const byVenue = compileFilter(both, { fields: new Map([["venue", "100"]]) });
  assert.ok(byVenue({ ...envelope, event_type: "Other" }));
});

Deno.test("the registry refuses filters that clash or shadow a query parameter", () => {
  const clash: EventTypeDefinition = {
    ...CUSTOMER_IDENTIFIED,
    name: "Clash",
    subject: "clash",
    endpoint: undefined,
    filters: { location: { path: "data.location", match: "at_least", description: "" } },
  };
  assert.throws(() => new EventRegistry([CUSTOMER_IDENTIFIED, clash]), /compares differently/);
  const reserved = { ...clash, filters: { group: CUSTOMER_IDENTIFIED.filters.location } };
  assert.throws(() => new EventRegistry([reserved]), /reserved/);
  assert.throws(() => new EventRegistry([CUSTOMER_IDENTIFIED, CUSTOMER_IDENTIFIED]), /twice/);
});

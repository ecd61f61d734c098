import assert from "node:assert/strict";
import { CUSTOMER_IDENTIFIED_V1_EXAMPLE } from "../events/customer_identified.ts";
import { matches } from "./filter.ts";

const envelope = {
  event_id: "e",
  event_type: "CustomerIdentified",
  timestamp: "2026-11-23T18:04:05.120Z",
  version: 1,
  data: { ...CUSTOMER_IDENTIFIED_V1_EXAMPLE },
};

Deno.test("filters match on type, location, customer and confidence", () => {
  assert.ok(matches({}, envelope));
  assert.ok(
    matches(
      { eventType: "CustomerIdentified", location: "Table 3", customerId: "cust123" },
      envelope,
    ),
  );
  assert.ok(matches({ minConfidence: 0.92 }, envelope));
  assert.ok(!matches({ minConfidence: 0.93 }, envelope));
  assert.ok(!matches({ location: "Table 4" }, envelope));
  assert.ok(!matches({ customerId: "other" }, envelope));
  assert.ok(!matches({ eventType: "Other" }, envelope));
});

import assert from "node:assert/strict";
import { z } from "zod";
import { schemaAt, valueAt } from "./field_path.ts";

Deno.test("valueAt follows dotted paths and stops at anything that is not an object", () => {
  const envelope = { data: { beacon: { major: 100 }, tags: ["a"], none: null } };
  assert.equal(valueAt(envelope, "data.beacon.major"), 100);
  assert.deepEqual(valueAt(envelope, "data.beacon"), { major: 100 });
  assert.equal(valueAt(envelope, "data.beacon.minor"), undefined);
  assert.equal(valueAt(envelope, "data.tags.0"), undefined);
  assert.equal(valueAt(envelope, "data.none.x"), undefined);
  assert.equal(valueAt(undefined, "data"), undefined);
});

Deno.test("schemaAt finds a field's schema through nested objects", () => {
  const schema = z.object({ data: z.object({ beacon: z.object({ major: z.int() }) }) });
  assert.equal(schemaAt(schema, "data.beacon.major")?.def.type, "number");
  assert.equal(schemaAt(schema, "data.beacon.minor"), undefined);
  assert.equal(schemaAt(schema, "data.beacon.major.x"), undefined);
});

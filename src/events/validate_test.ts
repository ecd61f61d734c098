import assert from "node:assert/strict";
import { CUSTOMER_IDENTIFIED_V1_EXAMPLE } from "./customer_identified.ts";
import { EventRegistry } from "./registry.ts";
import { validateEnvelope, validateIdentification } from "./validate.ts";

const registry = new EventRegistry();

const identification = () => structuredClone(CUSTOMER_IDENTIFIED_V1_EXAMPLE);

Deno.test("validateIdentification builds the envelope and generates an id", () => {
  const v = validateIdentification(registry, identification(), undefined);
  assert.ok(v.ok);
  assert.equal(v.envelope.event_type, "CustomerIdentified");
  assert.equal(v.envelope.version, 1);
  assert.match(v.envelope.event_id, /^[0-9a-f-]{36}$/);
  assert.match(v.envelope.timestamp, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
  assert.deepEqual(v.envelope.data, identification());
});

Deno.test("validateIdentification takes Idempotency-Key as the event id", () => {
  const v = validateIdentification(registry, identification(), "key-1");
  assert.ok(v.ok);
  assert.equal(v.envelope.event_id, "key-1");
  const clash = validateIdentification(
    registry,
    { ...identification(), event_id: "other" },
    "key-1",
  );
  assert.ok(!clash.ok);
  assert.equal(clash.errors[0].pointer, "/event_id");
});

Deno.test("validateIdentification lists every violation with its pointer", () => {
  const bad = {
    ...identification(),
    confidence: 1.5,
    beacon: { uuid: "nope", major: 70000, minor: 1.5, rssi: 3 },
    detected_at: "2026-11-23T18:04:05+01:00",
    extra: true,
  };
  const v = validateIdentification(registry, bad, undefined);
  assert.ok(!v.ok);
  const pointers = v.errors.map((e) => e.pointer).sort();
  assert.deepEqual(pointers, [
    "",
    "/beacon/major",
    "/beacon/minor",
    "/beacon/rssi",
    "/beacon/uuid",
    "/confidence",
    "/detected_at",
  ]);
});

Deno.test("validateIdentification rejects bad event ids and non-objects", () => {
  assert.ok(
    !validateIdentification(registry, { ...identification(), event_id: "a b" }, undefined).ok,
  );
  assert.ok(
    !validateIdentification(registry, { ...identification(), event_id: "x".repeat(129) }, undefined)
      .ok,
  );
  assert.ok(!validateIdentification(registry, [], undefined).ok);
  assert.ok(!validateIdentification(registry, identification(), "bad key!").ok);
});

Deno.test("validateEnvelope checks type, version and the whole envelope", () => {
  const ok = validateEnvelope(registry, {
    event_type: "CustomerIdentified",
    version: 1,
    event_id: "e-1",
    timestamp: "2026-11-23T18:04:05Z",
    data: identification(),
  });
  assert.ok(ok.ok);
  assert.equal(ok.envelope.timestamp, "2026-11-23T18:04:05Z");
  const unknown = validateEnvelope(registry, { event_type: "Nope", version: 1, data: {} });
  assert.ok(!unknown.ok);
  assert.equal(unknown.errors[0].pointer, "/event_type");
  const version = validateEnvelope(registry, {
    event_type: "CustomerIdentified",
    version: 9,
    data: {},
  });
  assert.ok(!version.ok);
  assert.equal(version.errors[0].pointer, "/version");
  const data = validateEnvelope(registry, {
    event_type: "CustomerIdentified",
    version: 1,
    data: { ...identification(), location: "" },
  });
  assert.ok(!data.ok);
  assert.equal(data.errors[0].pointer, "/data/location");
  const date = validateEnvelope(registry, {
    event_type: "CustomerIdentified",
    version: 1,
    data: { ...identification(), detected_at: "2026-02-30T00:00:00Z" },
  });
  assert.ok(!date.ok);
});

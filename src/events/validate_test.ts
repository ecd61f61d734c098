import assert from "node:assert/strict";
import { CUSTOMER_IDENTIFIED } from "./customer_identified.ts";
import { EventRegistry } from "./registry.ts";
import { validateData, validateEnvelope } from "./validate.ts";

const registry = new EventRegistry();

const identification = () => structuredClone(CUSTOMER_IDENTIFIED.versions.v1.example);
const v1 = registry.get("CustomerIdentified", "v1")!;

Deno.test("validateData builds the envelope and generates an id", () => {
  const v = validateData(v1, identification(), undefined);
  assert.ok(v.ok);
  assert.equal(v.envelope.event_type, "CustomerIdentified");
  assert.equal(v.envelope.version, "v1");
  assert.match(v.envelope.event_id, /^[0-9a-f-]{36}$/);
  assert.match(v.envelope.timestamp, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
  assert.deepEqual(v.envelope.data, identification());
});

Deno.test("validateData takes Idempotency-Key as the event id", () => {
  const v = validateData(v1, identification(), "key-1");
  assert.ok(v.ok);
  assert.equal(v.envelope.event_id, "key-1");
  const clash = validateData(
    v1,
    { ...identification(), event_id: "other" },
    "key-1",
  );
  assert.ok(!clash.ok);
  assert.equal(clash.errors[0].pointer, "/event_id");
});

Deno.test("validateData lists every violation with its pointer", () => {
  const bad = {
    ...identification(),
    confidence: 1.5,
    beacon: { uuid: "nope", major: 70000, minor: 1.5, rssi: 3 },
    detected_at: "2026-11-23T18:04:05+01:00",
    extra: true,
  };
  const v = validateData(v1, bad, undefined);
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

Deno.test("validateData rejects bad event ids and non-objects", () => {
  assert.ok(
    !validateData(v1, { ...identification(), event_id: "a b" }, undefined).ok,
  );
  assert.ok(
    !validateData(v1, { ...identification(), event_id: "x".repeat(129) }, undefined)
      .ok,
  );
  assert.ok(!validateData(v1, [], undefined).ok);
  assert.ok(!validateData(v1, identification(), "bad key!").ok);
});

Deno.test("validateEnvelope checks type, version and the whole envelope", () => {
  const ok = validateEnvelope(registry, {
    event_type: "CustomerIdentified",
    version: "v1",
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
    version: "v1",
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

Deno.test('validateEnvelope keeps the design\'s envelope as given, version "v1"', () => {
  const body = {
    event_id: "evt-uuid-1234-5678-9012",
    event_type: "CustomerIdentified",
    timestamp: "2025-03-02T12:00:00Z",
    version: "v1",
    data: identification(),
  };
  const v = validateEnvelope(registry, structuredClone(body));
  assert.ok(v.ok);
  assert.equal(JSON.stringify(v.envelope), JSON.stringify(body));
});

Deno.test("validateEnvelope reads the integer 1 as v1 and names the versions of a type", () => {
  const alias = validateEnvelope(registry, {
    event_type: "CustomerIdentified",
    version: 1,
    data: identification(),
  });
  assert.ok(alias.ok);
  assert.equal(alias.envelope.version, "v1");
  for (const version of ["v2", 2, "1", 1.5, null, "V1"]) {
    const v = validateEnvelope(registry, {
      event_type: "CustomerIdentified",
      version,
      data: identification(),
    });
    assert.ok(!v.ok, String(version));
    assert.deepEqual(v.errors, [{
      pointer: "/version",
      detail: 'must be a registered version of CustomerIdentified ("v1")',
    }]);
  }
});

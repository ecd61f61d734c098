/**
 * `proto/customer_id.proto` against the registry's zod schemas, with a real
 * protobuf toolchain (protobufjs): every type and field is there with a
 * matching type and its ranges in the comment, and the design's example event
 * round-trips through the binary encoding.
 *
 * @module
 */
import assert from "node:assert/strict";
import protobuf from "protobufjs";
import { z } from "zod";
import { EventRegistry } from "../src/events/registry.ts";

type JsonSchema = {
  type?: string | string[];
  properties?: Record<string, JsonSchema>;
  minimum?: number;
  maximum?: number;
  minLength?: number;
  maxLength?: number;
  format?: string;
};

const PROTO = new URL("../proto/customer_id.proto", import.meta.url);
const PACKAGE = "tastesync.events.v1";
const registry = new EventRegistry();
const { root } = protobuf.parse(await Deno.readTextFile(PROTO), {
  keepCase: true,
  alternateCommentMode: true,
});

const jsonSchema = (schema: z.ZodType) =>
  z.toJSONSchema(schema, { io: "input", unrepresentable: "any" }) as JsonSchema;

const PROTO_TYPES: Record<string, string[]> = {
  string: ["string"],
  number: ["double", "float"],
  integer: ["int32", "sint32", "uint32", "int64", "sint64", "uint64"],
};

/** Asserts that `message` has exactly the fields of `schema`, with matching types and ranges. */
function assertInStep(message: protobuf.Type, schema: JsonSchema, path: string): void {
  const properties = schema.properties ?? {};
  const own = message.fieldsArray.filter((f) => !f.partOf);
  assert.deepEqual(own.map((f) => f.name).sort(), Object.keys(properties).sort(), path);
  for (const field of own) {
    const prop = properties[field.name];
    const where = `${path}.${field.name}`;
    if (prop.type === "object") {
      field.resolve();
      assert.ok(field.resolvedType instanceof protobuf.Type, `${where} is a message`);
      assertInStep(field.resolvedType, prop, where);
      continue;
    }
    assert.ok(
      PROTO_TYPES[String(prop.type)]?.includes(field.type),
      `${where}: ${field.type} for JSON ${prop.type}`,
    );
    const comment = field.comment ?? "";
    if (prop.minimum !== undefined || prop.maximum !== undefined) {
      assert.ok(comment.includes(`range [${prop.minimum}, ${prop.maximum}]`), `${where} range`);
      if (field.type.startsWith("uint")) assert.ok((prop.minimum ?? -1) >= 0, `${where} sign`);
    }
    if (prop.minLength !== undefined || prop.maxLength !== undefined) {
      assert.ok(
        comment.includes(`length [${prop.minLength}, ${prop.maxLength}]`),
        `${where} length`,
      );
    }
    if (prop.format !== undefined) {
      assert.ok(comment.includes(`format ${prop.format}`), `${where} format`);
    }
  }
}

Deno.test("proto: every registered type has its message, in step with the zod schema", () => {
  const envelope = root.lookupType(`${PACKAGE}.Envelope`);
  const oneof = envelope.oneofs.data;
  for (const t of registry.list()) {
    const field = oneof.fieldsArray.find((f) => f.name === t.definition.subject);
    assert.ok(field, `Envelope.data has ${t.definition.subject}`);
    field.resolve();
    assert.equal(field.resolvedType?.name, t.type);
    assertInStep(root.lookupType(`${PACKAGE}.${t.type}`), jsonSchema(t.data), t.type);
    const { data: _, ...head } = jsonSchema(t.envelope).properties!;
    assertInStep(envelope, { properties: head }, "Envelope");
  }
});

Deno.test("proto: the design's example event round-trips through the binary encoding", () => {
  const Envelope = root.lookupType(`${PACKAGE}.Envelope`);
  for (const t of registry.list()) {
    const event = {
      event_id: "evt-uuid-1234-5678-9012",
      event_type: t.type,
      timestamp: "2025-03-02T12:00:00Z",
      version: t.version,
      data: t.example,
    };
    const { data, ...head } = event;
    const message = { ...head, [t.definition.subject]: data };
    assert.equal(Envelope.verify(message), null);
    const bytes = Envelope.encode(Envelope.fromObject(message)).finish();
    const decoded = Envelope.toObject(Envelope.decode(bytes), { oneofs: true });
    const { data: which, [t.definition.subject]: back, ...rest } = decoded;
    assert.equal(which, t.definition.subject);
    assert.deepEqual({ ...rest, data: back }, event);
  }
});

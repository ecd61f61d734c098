/**
 * Turns request bodies into envelopes, with every schema violation listed as a
 * JSON pointer and a message.
 *
 * @module
 */
import { z } from "zod";
import { type Envelope, EventId, normalizeVersion, utcNow } from "./envelope.ts";
import type { EventRegistry, EventType } from "./registry.ts";

/** One violation: where (`pointer`, RFC 6901) and what (`detail`). */
export interface FieldError {
  /** JSON pointer into the request body. */
  pointer: string;
  /** What is wrong there. */
  detail: string;
}

/** A valid envelope with its type, or the list of what is wrong. */
export type Validated =
  | { ok: true; envelope: Envelope<Record<string, unknown>>; type: EventType }
  | { ok: false; errors: FieldError[] };

function pointer(path: PropertyKey[]): string {
  return path.map((p) => "/" + String(p).replaceAll("~", "~0").replaceAll("/", "~1")).join("");
}

function fieldErrors(error: z.ZodError, prefix: PropertyKey[] = []): FieldError[] {
  return error.issues.map((issue) => {
    if (issue.code === "unrecognized_keys") {
      return {
        pointer: pointer([...prefix, ...issue.path]),
        detail: `unknown field(s): ${issue.keys.join(", ")}`,
      };
    }
    return { pointer: pointer([...prefix, ...issue.path]), detail: issue.message };
  });
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function complete(envelope: z.infer<EventType["envelope"]>, type: EventType): Validated {
  return {
    ok: true,
    type,
    envelope: {
      event_id: (envelope.event_id as string | undefined) ?? crypto.randomUUID(),
      event_type: type.type,
      timestamp: (envelope.timestamp as string | undefined) ?? utcNow(),
      version: type.version,
      data: envelope.data as Record<string, unknown>,
    },
  };
}

/**
 * Validates a full envelope of any registered type (`event_id` and
 * `timestamp` optional). The integer `version` `1` is read as `"v1"`.
 */
export function validateEnvelope(registry: EventRegistry, body: unknown): Validated {
  if (!isObject(body)) {
    return { ok: false, errors: [{ pointer: "", detail: "must be a JSON object" }] };
  }
  const { event_type } = body;
  if (typeof event_type !== "string" || !registry.has(event_type)) {
    return {
      ok: false,
      errors: [{
        pointer: "/event_type",
        detail: `must be a registered event type (${registry.names().join(", ")})`,
      }],
    };
  }
  const version = normalizeVersion(body.version);
  const type = typeof version === "string" ? registry.get(event_type, version) : undefined;
  if (!type) {
    return {
      ok: false,
      errors: [{
        pointer: "/version",
        detail: `must be a registered version of ${event_type} (${
          registry.versions(event_type).map((v) => `"${v}"`).join(", ")
        })`,
      }],
    };
  }
  const parsed = type.envelope.safeParse({ ...body, version });
  return parsed.success
    ? complete(parsed.data, type)
    : { ok: false, errors: fieldErrors(parsed.error) };
}

/**
 * Validates the body of a type's convenience endpoint: the `data` fields of
 * `type` plus an optional `event_id`, for which the `Idempotency-Key` header
 * is an alias.
 */
export function validateData(
  type: EventType,
  body: unknown,
  idempotencyKey: string | undefined,
): Validated {
  if (!isObject(body)) {
    return { ok: false, errors: [{ pointer: "", detail: "must be a JSON object" }] };
  }
  const { event_id, ...data } = body;
  const errors: FieldError[] = [];
  let id = event_id;
  if (idempotencyKey !== undefined) {
    const key = EventId.safeParse(idempotencyKey);
    if (!key.success) {
      errors.push({ pointer: "", detail: `Idempotency-Key header ${key.error.issues[0].message}` });
    } else if (id !== undefined && id !== idempotencyKey) {
      errors.push({ pointer: "/event_id", detail: "differs from the Idempotency-Key header" });
    }
    id ??= idempotencyKey;
  }
  if (id !== undefined) {
    const parsedId = EventId.safeParse(id);
    if (!parsedId.success) errors.push(...fieldErrors(parsedId.error, ["event_id"]));
  }
  const parsed = type.data.safeParse(data);
  if (!parsed.success) errors.push(...fieldErrors(parsed.error));
  if (errors.length > 0 || !parsed.success) return { ok: false, errors };
  return complete(
    {
      event_id: id as string | undefined,
      event_type: type.type,
      version: type.version,
      data: parsed.data,
    },
    type,
  );
}

/**
 * The query of `GET /v1/subscribe` and `GET /v1/stream`, validated by one zod
 * schema.
 *
 * @module
 */
import { z } from "zod";
import type { FieldError } from "../events/validate.ts";
import { type Cursor, decodeCursor, InvalidCursorError } from "./cursor.ts";
import { schemaAt } from "../events/field_path.ts";
import type { EventRegistry } from "../events/registry.ts";
import { compileFilter, type EventFilter } from "./filter.ts";

/** Characters allowed in a group name. */
const GROUP_PATTERN = /^[A-Za-z0-9._-]{1,128}$/;

/** The query parameters every subscription has, whatever the registered types. */
const BASE_QUERY = {
  topic: z.string().regex(/^[A-Za-z0-9._-]{1,249}$/).optional(),
  event_type: z.string().min(1).max(128).optional(),
  mode: z.enum(["durable", "live"]).default("durable"),
  group: z.string().regex(GROUP_PATTERN, {
    message: "must be 1-128 characters of A-Z, a-z, 0-9, '.', '_' or '-'",
  })
    .optional(),
  from: z.string().min(1).default("latest"),
};

/**
 * The schema of a filter parameter's value: the schema of the field it tests
 * (of the first type that declares it), read from query text.
 */
function filterValueSchema(registry: EventRegistry, name: string): z.ZodType {
  const parameter = registry.filters().get(name)!;
  const [typeName, field] = parameter.byType.entries().next().value!;
  const type = registry.get(typeName, registry.versions(typeName).at(-1)!)!;
  const schema = schemaAt(type.envelope, field.path) ?? z.string().min(1).max(128);
  const numeric = parameter.match === "at_least" || schema.def.type === "number";
  return (numeric ? z.coerce.number().pipe(schema as z.ZodType<number, number>) : schema)
    .describe(parameter.description);
}

const querySchemas = new WeakMap<EventRegistry, z.ZodObject>();

/** The query schema of `GET /v1/subscribe` and `GET /v1/stream` for `registry`'s types. */
export function subscriptionQuerySchema(registry: EventRegistry): z.ZodObject {
  const known = querySchemas.get(registry);
  if (known) return known;
  const filters = Object.fromEntries(
    [...registry.filters().keys()].map((name) => [
      name,
      filterValueSchema(registry, name).optional(),
    ]),
  );
  const schema = z.object({ ...BASE_QUERY, ...filters }).strict();
  querySchemas.set(registry, schema);
  return schema;
}

/** A validated subscription request. */
export interface SubscriptionRequest {
  /** Topic to read. */
  topic: string;
  /** `durable` (from the log) or `live` (from the live bus). */
  mode: "durable" | "live";
  /** Consumer group, when the sockets of a group share the events. */
  group?: string;
  /** Where to start: `latest`, `earliest`, or a cursor. */
  from: "latest" | "earliest" | Cursor;
  /** Filters applied in the gateway. */
  filter: EventFilter;
}

/** The request, or what is wrong with it. */
export type ParsedRequest = { ok: true; request: SubscriptionRequest } | {
  ok: false;
  errors: FieldError[];
};

/**
 * Validates the query (`Last-Event-ID`, when given, stands for `from`).
 * `defaultTopic` applies when `topic` is left out.
 */
export function parseSubscriptionRequest(
  registry: EventRegistry,
  params: URLSearchParams,
  defaultTopic: string,
  lastEventId?: string,
): ParsedRequest {
  const raw: Record<string, string> = {};
  const errors: FieldError[] = [];
  for (const [key, value] of params) {
    if (key in raw) errors.push({ pointer: `/${key}`, detail: "must be given once" });
    raw[key] = value;
  }
  if (lastEventId) raw.from = lastEventId;
  const parsed = subscriptionQuerySchema(registry).safeParse(raw);
  if (!parsed.success) {
    for (const issue of parsed.error.issues) {
      if (issue.code === "unrecognized_keys") {
        for (const key of issue.keys) {
          errors.push({ pointer: `/${key}`, detail: "is not a known parameter" });
        }
      } else {
        errors.push({ pointer: `/${issue.path.join("/")}`, detail: issue.message });
      }
    }
  }
  if (errors.length > 0 || !parsed.success) return { ok: false, errors };
  const { topic: topicParam, event_type, mode, group, from: fromParam, ...fields } = parsed
    .data as z.infer<z.ZodObject<typeof BASE_QUERY>> & Record<string, string | number>;
  const topic = topicParam ?? defaultTopic;
  let from: SubscriptionRequest["from"];
  if (fromParam === "latest" || fromParam === "earliest") {
    from = fromParam;
  } else {
    try {
      from = decodeCursor(fromParam);
    } catch (error) {
      if (!(error instanceof InvalidCursorError)) throw error;
      return {
        ok: false,
        errors: [{ pointer: "/from", detail: "must be latest, earliest or a cursor" }],
      };
    }
    if (from.topic !== topic) {
      return { ok: false, errors: [{ pointer: "/from", detail: "is a cursor of another topic" }] };
    }
    if (group) {
      return {
        ok: false,
        errors: [{
          pointer: "/from",
          detail: "a group resumes from its committed offsets, not from a cursor",
        }],
      };
    }
  }
  if (mode === "live" && (group || fromParam !== "latest")) {
    return {
      ok: false,
      errors: [{
        pointer: "/mode",
        detail: "live mode has no groups and no replay: leave out group and from",
      }],
    };
  }
  return {
    ok: true,
    request: {
      topic,
      mode,
      group,
      from,
      filter: compileFilter(registry, {
        eventType: event_type,
        fields: new Map(Object.entries(fields).filter(([, v]) => v !== undefined)),
      }),
    },
  };
}

/**
 * The query of `GET /v1/subscribe` and `GET /v1/stream`, validated by one zod
 * schema.
 *
 * @module
 */
import { z } from "zod";
import type { FieldError } from "../events/validate.ts";
import { type Cursor, decodeCursor, InvalidCursorError } from "./cursor.ts";
import type { EventFilter } from "./filter.ts";

/** Characters allowed in a group name. */
const GROUP_PATTERN = /^[A-Za-z0-9._-]{1,128}$/;

/** The query parameters, as strings. */
export const SubscriptionQuery = z.object({
  topic: z.string().regex(/^[A-Za-z0-9._-]{1,249}$/).optional(),
  event_type: z.string().min(1).max(128).optional(),
  mode: z.enum(["durable", "live"]).default("durable"),
  group: z.string().regex(GROUP_PATTERN, {
    message: "must be 1-128 characters of A-Z, a-z, 0-9, '.', '_' or '-'",
  })
    .optional(),
  from: z.string().min(1).default("latest"),
  location: z.string().min(1).max(128).optional(),
  customer_id: z.string().min(1).max(128).optional(),
  min_confidence: z.coerce.number().min(0).max(1).optional(),
}).strict();

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
  const parsed = SubscriptionQuery.safeParse(raw);
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
  const q = parsed.data;
  const topic = q.topic ?? defaultTopic;
  let from: SubscriptionRequest["from"];
  if (q.from === "latest" || q.from === "earliest") {
    from = q.from;
  } else {
    try {
      from = decodeCursor(q.from);
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
    if (q.group) {
      return {
        ok: false,
        errors: [{
          pointer: "/from",
          detail: "a group resumes from its committed offsets, not from a cursor",
        }],
      };
    }
  }
  if (q.mode === "live" && (q.group || q.from !== "latest")) {
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
      mode: q.mode,
      group: q.group,
      from,
      filter: {
        eventType: q.event_type,
        location: q.location,
        customerId: q.customer_id,
        minConfidence: q.min_confidence,
      },
    },
  };
}

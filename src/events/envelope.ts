/**
 * The event envelope shared by every event type:
 * `{event_id, event_type, timestamp, version, data}`.
 *
 * @module
 */
import { z } from "zod";

/** Characters allowed in an `event_id`. */
export const EVENT_ID_PATTERN = /^[A-Za-z0-9._:-]{1,128}$/;

/** RFC 3339 in UTC with a `Z`, whole seconds or up to millisecond precision. */
const RFC3339_UTC_PATTERN = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,3})?Z$/;

/** An event id: 1-128 characters of `[A-Za-z0-9._:-]`. */
export const EventId = z.string().regex(EVENT_ID_PATTERN, {
  message: "must be 1-128 characters of A-Z, a-z, 0-9, '.', '_', ':' or '-'",
}).describe("Unique id of the event; the key for idempotency and subscriber dedup.");

/** A UTC instant in RFC 3339 with `Z`, e.g. `2026-11-23T18:04:05.120Z`. */
export const UtcTimestamp = z.string()
  .regex(RFC3339_UTC_PATTERN, { message: "must be RFC 3339 in UTC ending in Z", abort: true })
  .refine(
    (s) =>
      !Number.isNaN(Date.parse(s)) && new Date(s).toISOString().slice(0, 19) === s.slice(0, 19),
    {
      message: "is not a real calendar instant",
    },
  );

/** A fully built envelope, as stored in the log and delivered to subscribers. */
export interface Envelope<T = unknown> {
  /** Unique id of the event. */
  event_id: string;
  /** Registered event type, e.g. `CustomerIdentified`. */
  event_type: string;
  /** When the gateway accepted the event (UTC, RFC 3339, ms). */
  timestamp: string;
  /** Schema version of `data`. */
  version: number;
  /** The type's payload. */
  data: T;
}

/**
 * The envelope schema for one event type and version. `event_id` and
 * `timestamp` are optional on input: the gateway fills them in.
 */
export function envelopeSchema<D extends z.ZodType>(
  eventType: string,
  version: number,
  data: D,
) {
  return z.object({
    event_id: EventId.optional(),
    event_type: z.literal(eventType),
    timestamp: UtcTimestamp.optional(),
    version: z.literal(version),
    data,
  }).strict();
}

/** Now as RFC 3339 UTC with milliseconds. */
export function utcNow(): string {
  return new Date().toISOString();
}

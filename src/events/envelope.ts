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
    (s) => {
      // One parse: a date that rolls over (Feb 30) comes back as another day.
      const instant = new Date(s);
      return !Number.isNaN(instant.getTime()) &&
        instant.toISOString().slice(0, 19) === s.slice(0, 19);
    },
    { message: "is not a real calendar instant" },
  );

/** A fully built envelope, as stored in the log and delivered to subscribers. */
export interface Envelope<T = unknown> {
  /** Unique id of the event. */
  event_id: string;
  /** A registered event type name (PascalCase). */
  event_type: string;
  /** When the event happened: the client's value, else when the gateway accepted it (UTC, RFC 3339). */
  timestamp: string;
  /** Schema version of `data`, e.g. `v1`. */
  version: string;
  /** The type's payload. */
  data: T;
}

/**
 * The envelope schema for one event type and version. `event_id` and
 * `timestamp` are optional on input: the gateway fills them in.
 */
export function envelopeSchema<D extends z.ZodType>(
  eventType: string,
  version: string,
  data: D,
) {
  return z.object({
    event_id: EventId.optional(),
    event_type: z.literal(eventType).describe("The registered event type."),
    timestamp: UtcTimestamp.optional().describe(
      "When the event happened (RFC 3339, UTC, Z); the gateway sets it when left out.",
    ),
    version: z.literal(version).describe(
      `Schema version of data. The integer ${version.slice(1)} is accepted as an alias.`,
    ),
    data,
  }).strict();
}

/**
 * The `version` of an input envelope as the registry names it: `"v1"` stays,
 * the integer `1` is its alias. Anything else is returned as is (and then
 * matches no registered version).
 */
export function normalizeVersion(version: unknown): unknown {
  return Number.isSafeInteger(version) && (version as number) > 0 ? `v${version}` : version;
}

/** Now as RFC 3339 UTC with milliseconds. */
export function utcNow(): string {
  return new Date().toISOString();
}

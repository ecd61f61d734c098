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

/** Days of each month in a common year. */
const DAYS_IN_MONTH = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

/** The two decimal digits of `s` at `at`, as a number. */
function twoDigits(s: string, at: number): number {
  return (s.charCodeAt(at) - 48) * 10 + s.charCodeAt(at + 1) - 48;
}

/**
 * Whether `s`, which matches {@linkcode RFC3339_UTC_PATTERN}, names a real
 * instant: no Feb 30, no hour 24, no second 60. Checked digit by digit; a
 * `Date` parse and re-format did the same in about 2 µs of every publish.
 */
export function isCalendarInstant(s: string): boolean {
  const year = twoDigits(s, 0) * 100 + twoDigits(s, 2);
  const month = twoDigits(s, 5);
  const day = twoDigits(s, 8);
  if (month < 1 || month > 12 || day < 1) return false;
  const leapDay = month === 2 && year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0) ? 1 : 0;
  return day <= DAYS_IN_MONTH[month - 1] + leapDay && twoDigits(s, 11) <= 23 &&
    twoDigits(s, 14) <= 59 && twoDigits(s, 17) <= 59;
}

/** A UTC instant in RFC 3339 with `Z`, e.g. `2026-11-23T18:04:05.120Z`. */
export const UtcTimestamp = z.string()
  .regex(RFC3339_UTC_PATTERN, { message: "must be RFC 3339 in UTC ending in Z", abort: true })
  .refine(isCalendarInstant, { message: "is not a real calendar instant" });

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

/** The last {@linkcode utcNow}: formatted once per millisecond, not per call. */
let formatted = { ms: Number.NaN, text: "" };

/** Now as RFC 3339 UTC with milliseconds. */
export function utcNow(): string {
  const ms = Date.now();
  if (ms !== formatted.ms) formatted = { ms, text: new Date(ms).toISOString() };
  return formatted.text;
}

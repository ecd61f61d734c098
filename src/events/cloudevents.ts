/**
 * CloudEvents 1.0 interop: structured-mode JSON in (`application/cloudevents+json`)
 * mapped to the envelope, and the Kafka protocol binding's `ce_*` headers out,
 * so a CloudEvents consumer can read the topic.
 *
 * | CloudEvents | envelope |
 * | --- | --- |
 * | `id` | `event_id` |
 * | `type` | `event_type` |
 * | `time` | `timestamp` |
 * | `dataversion` (extension), else the last segment of `dataschema` | `version` |
 * | `data` | `data` |
 * | `source` | kept in the `ce_source` record header |
 * | `traceparent`, `tracestate` (distributed tracing extension) | trace headers |
 *
 * @module
 */
import { CloudEvent, ValidationError } from "cloudevents";
import type { Envelope } from "./envelope.ts";
import type { FieldError } from "./validate.ts";

/** The media type of a structured-mode CloudEvent. */
export const CLOUDEVENTS_MEDIA_TYPE = "application/cloudevents+json";
/** `ce_source` of events that did not arrive as CloudEvents. */
export const DEFAULT_CLOUDEVENTS_SOURCE = "/tastesync/gateway";

/** Attributes the mapping keeps; any other attribute is refused rather than dropped. */
const KNOWN_ATTRIBUTES = new Set([
  "specversion",
  "id",
  "source",
  "type",
  "time",
  "datacontenttype",
  "dataschema",
  "dataversion",
  "traceparent",
  "tracestate",
  "data",
]);
const REQUIRED_ATTRIBUTES = ["specversion", "id", "source", "type"];
const ENVELOPE_TO_ATTRIBUTE: Record<string, string> = {
  "/event_id": "/id",
  "/event_type": "/type",
  "/timestamp": "/time",
  "/version": "/dataversion",
};

/** A structured CloudEvent read as an envelope body, with what the envelope has no room for. */
export type FromCloudEvent =
  | { ok: true; body: Record<string, unknown>; source: string; trace: Record<string, string> }
  | { ok: false; errors: FieldError[] };

function versionOf(event: Record<string, unknown>): unknown {
  if (event.dataversion !== undefined) return event.dataversion;
  if (typeof event.dataschema !== "string") return undefined;
  return event.dataschema.split(/[/#]/).filter(Boolean).at(-1);
}

/**
 * Reads a structured-mode CloudEvent (already parsed JSON) as an envelope
 * body for {@linkcode validateEnvelope}; the SDK checks the attributes.
 */
export function fromCloudEvent(event: unknown): FromCloudEvent {
  if (typeof event !== "object" || event === null || Array.isArray(event)) {
    return { ok: false, errors: [{ pointer: "", detail: "must be a JSON object" }] };
  }
  const e = event as Record<string, unknown>;
  const errors: FieldError[] = [
    ...REQUIRED_ATTRIBUTES.filter((a) => e[a] === undefined).map((a) => ({
      pointer: `/${a}`,
      detail: "is required",
    })),
    ...Object.keys(e).filter((a) => !KNOWN_ATTRIBUTES.has(a)).map((a) => ({
      pointer: `/${a}`,
      detail: a === "data_base64"
        ? "is not accepted: send data as JSON"
        : "is not an attribute the gateway keeps",
    })),
  ];
  if (e.specversion !== undefined && e.specversion !== "1.0") {
    errors.push({ pointer: "/specversion", detail: 'must be "1.0"' });
  }
  if (e.datacontenttype !== undefined && e.datacontenttype !== "application/json") {
    errors.push({ pointer: "/datacontenttype", detail: 'must be "application/json"' });
  }
  if (versionOf(e) === undefined) {
    errors.push({ pointer: "/dataversion", detail: "dataversion or dataschema is required" });
  }
  if (errors.length === 0) {
    try {
      new CloudEvent(e, true);
    } catch (error) {
      if (!(error instanceof ValidationError)) throw error;
      const details = (error.errors ?? []) as { instancePath?: string; message?: string }[];
      errors.push(...details.map((d) => ({
        pointer: d.instancePath ?? "",
        detail: d.message ?? "is not valid",
      })));
      if (errors.length === 0) errors.push({ pointer: "", detail: error.message });
    }
  }
  if (errors.length > 0) return { ok: false, errors };
  const trace: Record<string, string> = {};
  if (typeof e.traceparent === "string") trace.traceparent = e.traceparent;
  if (typeof e.tracestate === "string") trace.tracestate = e.tracestate;
  return {
    ok: true,
    body: {
      event_id: e.id,
      event_type: e.type,
      ...(e.time === undefined ? {} : { timestamp: e.time }),
      version: versionOf(e),
      data: e.data,
    },
    source: String(e.source),
    trace,
  };
}

/** Envelope pointers in `errors` renamed to the CloudEvents attributes they came from. */
export function asCloudEventErrors(errors: FieldError[]): FieldError[] {
  return errors.map((e) => {
    const top = e.pointer.match(/^\/[^/]*/)?.[0] ?? "";
    const renamed = ENVELOPE_TO_ATTRIBUTE[top];
    return renamed ? { ...e, pointer: renamed + e.pointer.slice(top.length) } : e;
  });
}

/** The Kafka protocol binding headers (binary mode) of a stored envelope. */
export function cloudEventHeaders(envelope: Envelope, source: string): Record<string, string> {
  return {
    ce_specversion: "1.0",
    ce_id: envelope.event_id,
    ce_type: envelope.event_type,
    ce_source: source,
    ce_time: envelope.timestamp,
    ce_dataversion: envelope.version,
    "content-type": "application/json",
  };
}

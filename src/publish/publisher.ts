/**
 * The router of the write path: appends an envelope to the durable log (keyed
 * by the type's partition key) and mirrors it to the live bus, either in
 * parallel with the write (`immediate`, marked not yet durable) or once the log
 * has acknowledged it (`after_ack`). Nothing here knows Kafka or NATS; it
 * talks to the {@linkcode EventLog} and {@linkcode LiveBus} ports.
 *
 * @module
 */
import { createHash } from "node:crypto";
import { DURABLE_HEADER, type LiveBus } from "../bus/live_bus.ts";
import { cloudEventHeaders, DEFAULT_CLOUDEVENTS_SOURCE } from "../events/cloudevents.ts";
import type { Envelope } from "../events/envelope.ts";
import type { EventType } from "../events/registry.ts";
import type { AppendResult, EventLog, LogRecord } from "../log/event_log.ts";
import { type Context, inSpan, outgoingTrace, type Span, traceRoot } from "../telemetry/tracing.ts";

/** When events are mirrored to the live bus. */
export type MirrorMode = "immediate" | "after_ack";

/** What a publish returns to the client. */
export interface PublishResult extends AppendResult {
  /** The event's id. */
  event_id: string;
  /** The event's type. */
  event_type: string;
}

/** Options of {@linkcode Publisher}. */
export interface PublisherOptions {
  /** Topic of the durable log. */
  topic: string;
  /** Prefix of live-bus subjects: `<prefix>.<type subject>`. */
  subjectPrefix: string;
  /** Called for each event the live bus dropped. */
  onMirrorDropped: () => void;
  /** When to mirror: in parallel with the durable write, or after its ack. @default "after_ack" */
  mirror?: MirrorMode;
}

/** Where a published event came from, beyond its envelope. */
export interface PublishOrigin {
  /** The caller's W3C trace headers, carried on when no span is recorded. */
  trace?: Record<string, string>;
  /** The trace context of the request (its span), the parent of the publish's spans. */
  traceContext?: Context;
  /** The CloudEvents `source` (default {@linkcode DEFAULT_CLOUDEVENTS_SOURCE}). */
  source?: string;
  /** When the publish began (ms since the epoch); now when unset. */
  receivedAt?: number;
}

/**
 * The content fingerprint of an envelope: its type, version and data. The
 * timestamp is left out because the gateway sets it when the client does not,
 * so a client's retry of the same event is a duplicate, not a conflict (the
 * first write's timestamp stands).
 */
export function fingerprint(envelope: Envelope): string {
  // `data` is the schema's output, whose keys come in the schema's order whatever the input's.
  const content = JSON.stringify([envelope.event_type, envelope.version, envelope.data]);
  return createHash("sha256").update(content).digest("base64url");
}

/** Publishes validated envelopes to the durable log and mirrors them to the live bus. */
export class Publisher {
  readonly #log: Pick<EventLog, "append">;
  readonly #bus: LiveBus;
  readonly #options: PublisherOptions;
  /** Appends in flight by event id, so a concurrent retry waits for the first write. */
  readonly #inFlight = new Map<string, Promise<AppendResult>>();

  constructor(log: Pick<EventLog, "append">, bus: LiveBus, options: PublisherOptions) {
    this.#log = log;
    this.#bus = bus;
    this.#options = options;
  }

  /**
   * Appends `envelope` durably and resolves with where it landed; the live
   * mirror is best effort and never delays or fails the result. In
   * `immediate` mode the mirror goes out before the write is acknowledged
   * (and again on a retry of the id), marked with {@linkcode DURABLE_HEADER}.
   *
   * @throws {EventIdConflictError} when the id was used with other content.
   * @throws {EventLogUnavailableError} when the log is unreachable after retries.
   */
  publish(
    envelope: Envelope<Record<string, unknown>>,
    type: EventType,
    origin: PublishOrigin = {},
  ): Promise<PublishResult> {
    const print = fingerprint(envelope);
    const ids = { event_id: envelope.event_id, event_type: envelope.event_type };
    const pending = this.#inFlight.get(envelope.event_id);
    // The log decides duplicate or conflict once the first write has settled; the wait counts
    // against this publish's own deadline.
    if (pending) {
      const since = { ...origin, receivedAt: origin.receivedAt ?? Date.now() };
      return pending.catch(() => {}).then(() => this.publish(envelope, type, since));
    }
    return inSpan("event_log.append", origin.traceContext ?? traceRoot({}), {
      "messaging.destination.name": this.#options.topic,
      "tastesync.event_type": envelope.event_type,
    }, async ({ span, context }) => {
      const record = this.#record(envelope, type, print, origin, context);
      const immediate = this.#options.mirror === "immediate";
      if (immediate) {
        this.#mirror(envelope, type, record, span, { [DURABLE_HEADER]: "false" });
      }
      const result = this.#log.append(record);
      this.#inFlight.set(envelope.event_id, result);
      try {
        const appended = await result;
        span.setAttributes({
          "messaging.destination.partition.id": String(appended.partition),
          "messaging.kafka.offset": appended.offset,
          "tastesync.duplicate": appended.duplicate,
        });
        if (!immediate && !appended.duplicate) this.#mirror(envelope, type, record, span, {});
        return { ...ids, ...appended };
      } finally {
        this.#inFlight.delete(envelope.event_id);
      }
    });
  }

  #record(
    envelope: Envelope,
    type: EventType,
    print: string,
    origin: PublishOrigin,
    context: Context,
  ): LogRecord {
    return {
      topic: this.#options.topic,
      key: type.key(envelope),
      eventId: envelope.event_id,
      fingerprint: print,
      value: JSON.stringify(envelope),
      headers: {
        ...cloudEventHeaders(envelope, origin.source ?? DEFAULT_CLOUDEVENTS_SOURCE),
        ...outgoingTrace(context, origin.trace ?? {}),
      },
      ...(origin.receivedAt !== undefined && { receivedAt: origin.receivedAt }),
    };
  }

  /**
   * Mirrors the record to the live bus, noted as an event of the append's
   * `span`: the publish is buffered and not answered, so a span of its own
   * would time nothing, and each span costs the SDK's work and the export
   * (readers of the mirror continue the record's trace either way).
   */
  #mirror(
    envelope: Envelope,
    type: EventType,
    record: LogRecord,
    span: Span,
    extraHeaders: Record<string, string>,
  ): void {
    const sent = this.#bus.publish({
      subject: `${this.#options.subjectPrefix}.${type.definition.subject}`,
      data: record.value,
      headers: { ...record.headers, ...extraHeaders, "Nats-Msg-Id": envelope.event_id },
    });
    span.addEvent("live_bus.publish", {
      "messaging.system": this.#bus.backend,
      "tastesync.mirrored": sent,
    });
    if (!sent) this.#options.onMirrorDropped();
  }
}

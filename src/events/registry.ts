/**
 * The registry of event types: one zod schema per type and version, the single
 * source for validation, the OpenAPI document and the docs page.
 *
 * @module
 */
import { z } from "zod";
import { CUSTOMER_IDENTIFIED_V1_EXAMPLE, CustomerIdentifiedV1 } from "./customer_identified.ts";
import { envelopeSchema } from "./envelope.ts";

/** One registered event type and version. */
export interface EventType {
  /** The `event_type` value, e.g. `CustomerIdentified`. */
  readonly type: string;
  /** The `version` value. */
  readonly version: number;
  /** What the event means, for the docs. */
  readonly description: string;
  /** Schema of `data`. */
  readonly data: z.ZodObject;
  /** Schema of the whole envelope (event_id and timestamp optional). */
  readonly envelope: z.ZodObject;
  /** Last token of the NATS subject, e.g. `customer_identified`. */
  readonly subject: string;
  /** An example `data`, for the OpenAPI document and the docs. */
  readonly example: Record<string, unknown>;
  /** The partition key taken from valid `data`, so one key's events stay in order. */
  readonly key: (data: Record<string, unknown>) => string;
}

function define(
  type: string,
  version: number,
  description: string,
  data: z.ZodObject,
  example: Record<string, unknown>,
  key: (data: Record<string, unknown>) => string,
): EventType {
  const subject = type.replace(/([a-z0-9])([A-Z])/g, "$1_$2").toLowerCase();
  return {
    type,
    version,
    description,
    data,
    envelope: envelopeSchema(type, version, data),
    subject,
    example,
    key,
  };
}

/** Every event type the gateway accepts. */
export const EVENT_TYPES: readonly EventType[] = [
  define(
    "CustomerIdentified",
    1,
    "A guest was recognised by a BLE beacon or a QR code at a table.",
    CustomerIdentifiedV1,
    CUSTOMER_IDENTIFIED_V1_EXAMPLE,
    (data) => String(data.customer_id),
  ),
];

/** Looks up registered event types. */
export class EventRegistry {
  readonly #types = new Map<string, EventType>();

  /** A registry of `types` (every built-in type by default). */
  constructor(types: readonly EventType[] = EVENT_TYPES) {
    for (const t of types) this.#types.set(`${t.type}@${t.version}`, t);
  }

  /** The type for `event_type` and `version`, if registered. */
  get(type: string, version: number): EventType | undefined {
    return this.#types.get(`${type}@${version}`);
  }

  /** Whether any version of `type` is registered. */
  has(type: string): boolean {
    return this.list().some((t) => t.type === type);
  }

  /** All registered types. */
  list(): EventType[] {
    return [...this.#types.values()];
  }
}

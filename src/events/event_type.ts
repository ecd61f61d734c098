/**
 * What an event type declares about itself. Each type lives in a file of its
 * own under `src/events/` and exports one {@linkcode EventTypeDefinition};
 * the registry turns the definitions into validation, routes, filters,
 * partition keys, subjects and the generated documents. Nothing else names a
 * concrete type.
 *
 * @module
 */
import type { z } from "zod";

/** How a subscription filter compares the query value with the event's field. */
export type FilterMatch =
  /** The field, as text, equals the value. */
  | "equals"
  /** The field is a number at least the value. */
  | "at_least";

/** One subscription filter: a query parameter that tests one field of the event. */
export interface FilterDefinition {
  /** Dotted path of the field in the envelope, e.g. `data.confidence`. */
  readonly path: string;
  /** How the value is compared. */
  readonly match: FilterMatch;
  /** What the filter selects, for the documents. */
  readonly description: string;
}

/** One version of a type: the schema of its `data` and an example. */
export interface VersionDefinition {
  /** Schema of `data` (strict: unknown fields are rejected). */
  readonly data: z.ZodObject;
  /** An example `data`, shown in the documents and used by tests. */
  readonly example: Record<string, unknown>;
}

/**
 * A convenience endpoint that takes the `data` fields of one version as the
 * whole body (plus an optional `event_id`, or the `Idempotency-Key` header).
 */
export interface EndpointDefinition {
  /** Route path, e.g. `/v1/identifications`. */
  readonly path: string;
  /** The version whose `data` the body is. */
  readonly version: string;
  /** One line for the documents. */
  readonly summary: string;
}

/** Everything the gateway knows about one event type. */
export interface EventTypeDefinition {
  /** The `event_type` value, PascalCase. */
  readonly name: string;
  /** What the event means, for the documents. */
  readonly description: string;
  /** Versions by their `version` value, e.g. `v1`. */
  readonly versions: Readonly<Record<string, VersionDefinition>>;
  /** Dotted path of the partition key, so one key's events stay in order. */
  readonly partitionKey: string;
  /** Last token of the live-bus subject: `<prefix>.<subject>`. */
  readonly subject: string;
  /** The type's convenience endpoint, if it has one. */
  readonly endpoint?: EndpointDefinition;
  /** Subscription filters by query parameter name. */
  readonly filters: Readonly<Record<string, FilterDefinition>>;
  /**
   * Dotted path of the tenant (the venue) an event belongs to, for
   * venue-pinned permissions.
   */
  readonly tenant: string;
}

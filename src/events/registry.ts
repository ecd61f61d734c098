/**
 * The registry of event types: the one place the gateway learns which types
 * exist. Validation, the HTTP routes, subscription filters, partition keys,
 * subjects, the OpenAPI and AsyncAPI documents and the docs page all read it.
 *
 * @module
 */
import type { z } from "zod";
import { CUSTOMER_IDENTIFIED } from "./customer_identified.ts";
import { envelopeSchema } from "./envelope.ts";
import type {
  EndpointDefinition,
  EventTypeDefinition,
  FilterDefinition,
  FilterMatch,
} from "./event_type.ts";
import { valueAt } from "./field_path.ts";

/** Every event type the gateway accepts. */
export const EVENT_TYPES: readonly EventTypeDefinition[] = [CUSTOMER_IDENTIFIED];

/** Query parameters of a subscription that no type may use as a filter name. */
export const RESERVED_QUERY_PARAMETERS: readonly string[] = [
  "topic",
  "event_type",
  "mode",
  "group",
  "from",
  "access_token",
];

const NAME_PATTERN = /^[A-Z][A-Za-z0-9]{0,127}$/;
const VERSION_PATTERN = /^v[1-9][0-9]{0,5}$/;
const SUBJECT_PATTERN = /^[a-z0-9_]{1,64}$/;
const PARAMETER_PATTERN = /^[a-z][a-z0-9_]{0,63}$/;

/** One registered type at one version, resolved from its definition. */
export interface EventType {
  /** The `event_type` value (PascalCase). */
  readonly type: string;
  /** The `version` value, e.g. `v1`. */
  readonly version: string;
  /** The whole definition of the type. */
  readonly definition: EventTypeDefinition;
  /** Schema of `data`. */
  readonly data: z.ZodObject;
  /** Schema of the whole envelope (`event_id` and `timestamp` optional). */
  readonly envelope: z.ZodObject;
  /** An example `data`. */
  readonly example: Record<string, unknown>;
  /** The partition key of a valid envelope of this type. */
  key(envelope: unknown): string;
  /** The tenant (venue) of a valid envelope of this type, as text. */
  tenant(envelope: unknown): string;
}

/** A convenience endpoint with the type and version it publishes. */
export interface Endpoint extends EndpointDefinition {
  /** The type and version the endpoint's body is the `data` of. */
  readonly type: EventType;
}

/** A filter parameter and, per type that declares it, the field it tests. */
export interface FilterParameter {
  /** How every declaring type compares it. */
  readonly match: FilterMatch;
  /** What it selects (from the first declaring type). */
  readonly description: string;
  /** The declaring types' definitions, by type name. */
  readonly byType: ReadonlyMap<string, FilterDefinition>;
}

function resolve(definition: EventTypeDefinition, version: string): EventType {
  const { data, example } = definition.versions[version];
  return {
    type: definition.name,
    version,
    definition,
    data,
    envelope: envelopeSchema(definition.name, version, data),
    example,
    key: (envelope) => String(valueAt(envelope, definition.partitionKey)),
    tenant: (envelope) => String(valueAt(envelope, definition.tenant)),
  };
}

function check(condition: boolean, message: string): void {
  if (!condition) throw new TypeError(`Invalid event type definition: ${message}`);
}

/** Looks up registered event types. */
export class EventRegistry {
  readonly #definitions = new Map<string, EventTypeDefinition>();
  readonly #types = new Map<string, EventType>();
  readonly #endpoints: Endpoint[] = [];
  readonly #filters = new Map<string, FilterParameter>();

  /**
   * A registry of `definitions` (every built-in type by default).
   *
   * @throws {TypeError} when a definition is malformed or clashes with another.
   */
  constructor(definitions: readonly EventTypeDefinition[] = EVENT_TYPES) {
    for (const d of definitions) this.#add(d);
  }

  #add(d: EventTypeDefinition): void {
    check(NAME_PATTERN.test(d.name), `name "${d.name}" must be PascalCase`);
    check(!this.#definitions.has(d.name), `${d.name} is registered twice`);
    check(SUBJECT_PATTERN.test(d.subject), `${d.name}: subject must match ${SUBJECT_PATTERN}`);
    check(
      ![...this.#definitions.values()].some((o) => o.subject === d.subject),
      `${d.name}: subject "${d.subject}" is taken`,
    );
    const versions = Object.keys(d.versions);
    check(versions.length > 0, `${d.name} has no versions`);
    for (const v of versions) check(VERSION_PATTERN.test(v), `${d.name}: version "${v}"`);
    this.#definitions.set(d.name, d);
    for (const v of versions) this.#types.set(`${d.name}@${v}`, resolve(d, v));
    if (d.endpoint) {
      const type = this.#types.get(`${d.name}@${d.endpoint.version}`);
      check(type !== undefined, `${d.name}: endpoint version ${d.endpoint.version} is unknown`);
      check(
        !this.#endpoints.some((e) => e.path === d.endpoint!.path),
        `${d.name}: endpoint ${d.endpoint.path} is taken`,
      );
      this.#endpoints.push({ ...d.endpoint, type: type! });
    }
    for (const [name, filter] of Object.entries(d.filters)) {
      check(PARAMETER_PATTERN.test(name), `${d.name}: filter "${name}"`);
      check(!RESERVED_QUERY_PARAMETERS.includes(name), `${d.name}: filter "${name}" is reserved`);
      const known = this.#filters.get(name);
      check(
        known === undefined || known.match === filter.match,
        `${d.name}: filter "${name}" compares differently in another type`,
      );
      const byType = new Map(known?.byType ?? []).set(d.name, filter);
      this.#filters.set(name, {
        match: filter.match,
        description: known?.description ?? filter.description,
        byType,
      });
    }
  }

  /** The type for `event_type` and `version` (`v1`), if registered. */
  get(type: string, version: string): EventType | undefined {
    return this.#types.get(`${type}@${version}`);
  }

  /** Whether any version of `type` is registered. */
  has(type: string): boolean {
    return this.#definitions.has(type);
  }

  /** The registered versions of `type`. */
  versions(type: string): string[] {
    return Object.keys(this.#definitions.get(type)?.versions ?? {});
  }

  /** Every registered type name. */
  names(): string[] {
    return [...this.#definitions.keys()];
  }

  /** Every registered type at every version. */
  list(): EventType[] {
    return [...this.#types.values()];
  }

  /** Every type definition. */
  definitions(): EventTypeDefinition[] {
    return [...this.#definitions.values()];
  }

  /** The convenience endpoints of all types. */
  endpoints(): readonly Endpoint[] {
    return this.#endpoints;
  }

  /** Every filter parameter of every type. */
  filters(): ReadonlyMap<string, FilterParameter> {
    return this.#filters;
  }
}

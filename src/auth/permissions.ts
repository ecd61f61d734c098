/**
 * What a principal may do. Scopes: `publish:<EventType>`, `subscribe:<topic>`,
 * `group:<name>` and `admin`; a scope `kind:prefix*` grants every
 * `kind:` scope whose name starts with `prefix` (`publish:*`, `group:kitchen-*`).
 * Venue pinning: a principal with `venues` may publish only events whose
 * tenant field (declared by each type in the registry) names one of them, and
 * every subscription it opens carries a venue filter no query can widen.
 *
 * @module
 */
import type { Envelope } from "../events/envelope.ts";
import type { EventTypeDefinition } from "../events/event_type.ts";
import { valueAt } from "../events/field_path.ts";
import type { EventRegistry, EventType } from "../events/registry.ts";
import type { EventFilter } from "../subscribe/filter.ts";
import type { SubscriptionRequest } from "../subscribe/request.ts";
import type { AuthFailureReason } from "./errors.ts";
import type { Principal } from "./principal.ts";

/** The scope that reads `/metrics` (and, later, the console). */
export const ADMIN_SCOPE = "admin";
/** The name part of a scope that grants every name of its kind. */
export const ANY_NAME = "*";

/** The scope to publish events of `type`. */
export function publishScope(type: string): string {
  return `publish:${type}`;
}

/** The scope to subscribe to `topic`. */
export function subscribeScope(topic: string): string {
  return `subscribe:${topic}`;
}

/** The scope to join the consumer group `group`. */
export function groupScope(group: string): string {
  return `group:${group}`;
}

/** Every scope: what the anonymous caller holds when `auth.mode` is `none`. */
export const ALL_SCOPES: ReadonlySet<string> = new Set([
  publishScope(ANY_NAME),
  subscribeScope(ANY_NAME),
  groupScope(ANY_NAME),
  ADMIN_SCOPE,
]);

/**
 * Whether `granted` holds `required`: the same scope, or `kind:prefix*` for a
 * `kind:name` that starts with `prefix`. A wildcard never crosses kinds.
 */
export function grants(granted: ReadonlySet<string>, required: string): boolean {
  if (granted.has(required)) return true;
  const colon = required.indexOf(":");
  if (colon < 0) return false;
  for (const scope of granted) {
    if (!scope.endsWith(ANY_NAME)) continue;
    const prefix = scope.slice(0, -ANY_NAME.length);
    if (prefix.length > colon && required.startsWith(prefix)) return true;
  }
  return false;
}

/** Why a request is refused (`403`), and what it lacked. */
export interface Refusal {
  /** `scope` or `venue`. */
  reason: Extract<AuthFailureReason, "scope" | "venue">;
  /** What was missing, for the client. */
  detail: string;
  /** The missing scope, for `WWW-Authenticate`. */
  scope?: string;
}

/** A subscription request as a principal may open it, or why it may not. */
export type SubscriptionGrant = { ok: true; request: SubscriptionRequest } | {
  ok: false;
  refusal: Refusal;
};

/** The permission checks of the registered event types. */
export class Permissions {
  readonly #definitions: ReadonlyMap<string, EventTypeDefinition>;
  /** Filter parameters that test each declaring type's tenant field (e.g. `venue`). */
  readonly #tenantFilters: readonly string[];

  /** Checks for the types of `registry`. */
  constructor(registry: EventRegistry) {
    this.#definitions = new Map(registry.definitions().map((d) => [d.name, d]));
    this.#tenantFilters = [...registry.filters()]
      .filter(([, parameter]) =>
        [...parameter.byType].every(([type, field]) =>
          field.path === this.#definitions.get(type)?.tenant
        )
      )
      .map(([name]) => name);
  }

  /** Refuses a principal without `scope`. */
  scope(principal: Principal, scope: string): Refusal | undefined {
    if (grants(principal.scopes, scope)) return undefined;
    return { reason: "scope", detail: `Needs the scope "${scope}"`, scope };
  }

  /** Refuses publishing `envelope` of `type` without its scope or for a foreign venue. */
  publish(principal: Principal, type: EventType, envelope: unknown): Refusal | undefined {
    const missing = this.scope(principal, publishScope(type.type));
    if (missing || !principal.venues) return missing;
    const venue = tenantOf(type.definition, envelope);
    if (venue !== undefined && principal.venues.has(venue)) return undefined;
    return {
      reason: "venue",
      detail: `Venue "${venue ?? ""}" is not one of this principal's venues`,
    };
  }

  /**
   * `request` as `principal` may open it: it needs `subscribe:<topic>`, and
   * `group:<name>` to join a group. A venue-pinned principal gets a filter to
   * its venues; naming another venue in `params` (a tenant filter such as
   * `venue`) is refused rather than answered with nothing.
   */
  subscription(
    principal: Principal,
    request: SubscriptionRequest,
    params: URLSearchParams,
  ): SubscriptionGrant {
    const missing = this.scope(principal, subscribeScope(request.topic)) ??
      (request.group === undefined ? undefined : this.scope(principal, groupScope(request.group)));
    if (missing) return { ok: false, refusal: missing };
    const venues = principal.venues;
    if (!venues) return { ok: true, request };
    for (const name of this.#tenantFilters) {
      const asked = params.get(name);
      if (asked !== null && !venues.has(asked)) {
        return {
          ok: false,
          refusal: {
            reason: "venue",
            detail: `Venue "${asked}" (${name}) is not one of this principal's venues`,
          },
        };
      }
    }
    const pinned = this.#venueFilter(venues);
    const { filter } = request;
    return { ok: true, request: { ...request, filter: (e) => pinned(e) && filter(e) } };
  }

  /** Passes events of registered types whose tenant is one of `venues`; nothing else. */
  #venueFilter(venues: ReadonlySet<string>): EventFilter {
    return (envelope: Envelope<Record<string, unknown>>) => {
      const definition = this.#definitions.get(envelope.event_type);
      const venue = definition && tenantOf(definition, envelope);
      return venue !== undefined && venues.has(venue);
    };
  }
}

/** The tenant (venue) of `envelope` as text, or `undefined` when it has none. */
function tenantOf(definition: EventTypeDefinition, envelope: unknown): string | undefined {
  const tenant = valueAt(envelope, definition.tenant);
  return typeof tenant === "string" || typeof tenant === "number" ? String(tenant) : undefined;
}

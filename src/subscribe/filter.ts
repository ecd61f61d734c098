/**
 * Subscription filters, applied in the gateway before anything is sent. The
 * filter parameters and the fields they test come from the event registry.
 *
 * @module
 */
import type { Envelope } from "../events/envelope.ts";
import { valueAt } from "../events/field_path.ts";
import type { EventRegistry } from "../events/registry.ts";

/** Whether a subscriber wants an event. */
export type EventFilter = (envelope: Envelope<Record<string, unknown>>) => boolean;

/** The filter parameters of a request, already validated. */
export interface FilterValues {
  /** Only this event type. */
  eventType?: string;
  /** Filter parameter values by name (see {@linkcode EventRegistry.filters}). */
  fields: ReadonlyMap<string, string | number>;
}

/** An event of any type passes. */
export const MATCH_ALL: EventFilter = () => true;

/**
 * Compiles `values` into a filter. A field filter passes the events whose type
 * declares it and whose field compares as the type says; an event of a type
 * that does not declare the filter does not pass.
 */
export function compileFilter(registry: EventRegistry, values: FilterValues): EventFilter {
  const { eventType } = values;
  const tests = [...values.fields].map(([name, expected]) => {
    const parameter = registry.filters().get(name);
    if (!parameter) throw new TypeError(`Unknown filter parameter "${name}"`);
    return (envelope: Envelope<Record<string, unknown>>): boolean => {
      const field = parameter.byType.get(envelope.event_type);
      if (!field) return false;
      const actual = valueAt(envelope, field.path);
      return field.match === "at_least"
        ? typeof actual === "number" && actual >= (expected as number)
        : (typeof actual === "string" || typeof actual === "number") &&
          String(actual) === String(expected);
    };
  });
  if (eventType === undefined && tests.length === 0) return MATCH_ALL;
  return (envelope) =>
    (eventType === undefined || envelope.event_type === eventType) &&
    tests.every((test) => test(envelope));
}

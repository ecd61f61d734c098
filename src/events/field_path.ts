/**
 * Dotted field paths into an envelope (`data.beacon.major`): how event types
 * name their partition key, tenant and filter fields.
 *
 * @module
 */
import { z } from "zod";

/** The value at dotted `path` in `value`, or `undefined` when any step is missing. */
export function valueAt(value: unknown, path: string): unknown {
  let at = value;
  for (const step of path.split(".")) {
    if (typeof at !== "object" || at === null || Array.isArray(at)) return undefined;
    at = (at as Record<string, unknown>)[step];
  }
  return at;
}

/**
 * The schema of the field at dotted `path` inside the object schema `schema`,
 * or `undefined` when the path leaves the declared objects.
 */
export function schemaAt(schema: z.ZodType, path: string): z.ZodType | undefined {
  let at: z.ZodType | undefined = schema;
  for (const step of path.split(".")) {
    if (!(at instanceof z.ZodObject)) return undefined;
    at = at.shape[step];
  }
  return at;
}

/**
 * A second event type that exists only in the tests: it proves that a type is
 * declared in one file and the gateway needs no other change to publish,
 * filter, subscribe to and document it.
 *
 * @module
 */
import { z } from "zod";
import { UtcTimestamp } from "../src/events/envelope.ts";
import type { EventTypeDefinition } from "../src/events/event_type.ts";

/** `TableFreed`: a table became free. */
export const TABLE_FREED: EventTypeDefinition = {
  name: "TableFreed",
  description: "A table became free.",
  versions: {
    v1: {
      data: z.object({
        venue: z.int().min(0).max(65535).describe("The venue (beacon major)."),
        table: z.string().min(1).max(64).describe("The table that was freed."),
        freed_at: UtcTimestamp.describe("When it was freed."),
      }).strict(),
      example: { venue: 100, table: "Table 3", freed_at: "2025-03-02T13:00:00Z" },
    },
  },
  partitionKey: "data.table",
  subject: "table_freed",
  endpoint: { path: "/v1/tables/freed", version: "v1", summary: "Publish a TableFreed event" },
  filters: {
    venue: { path: "data.venue", match: "equals", description: "Only this venue." },
    table: { path: "data.table", match: "equals", description: "Only this table." },
  },
  tenant: "data.venue",
};

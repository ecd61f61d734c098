/**
 * Baseline: the HTTP + validation limit. A bare Hono app on `Deno.serve` that
 * parses the body and validates it with the same zod schema as the gateway's
 * `POST /v1/identifications`, then answers `202` with an id: no log, no bus,
 * no dedup. Listens on the port given as the first argument.
 *
 * @module
 */
import { Hono } from "hono";
import { CUSTOMER_IDENTIFIED } from "../src/events/customer_identified.ts";

const schema = CUSTOMER_IDENTIFIED.versions.v1!.data;
const app = new Hono();
app.post("/v1/identifications", async (c) => {
  const parsed = schema.safeParse(await c.req.json());
  if (!parsed.success) return c.json({ errors: parsed.error.issues }, 422);
  return c.json({ event_id: crypto.randomUUID(), accepted: true }, 202);
});
Deno.serve({
  hostname: "127.0.0.1",
  port: Number(Deno.args[0]),
  onListen: () => console.error("listening"),
}, app.fetch);

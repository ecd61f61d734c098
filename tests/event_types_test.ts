/**
 * A second event type, declared in a test fixture file only, goes through the
 * whole gateway: validation, its endpoint, the log, filters, subscriptions
 * and the generated documents.
 */
import assert from "node:assert/strict";
import { loadConfig } from "../src/config.ts";
import { CUSTOMER_IDENTIFIED } from "../src/events/customer_identified.ts";
import { EVENT_TYPES } from "../src/events/registry.ts";
import { createGateway } from "../src/gateway.ts";
import { jsonLogger } from "../src/telemetry/logger.ts";
import { TABLE_FREED } from "../testing/table_freed.ts";
import { subscribeSse } from "../testing/harness.ts";

Deno.test("a type declared in one fixture file is published, filtered, subscribed and documented", async () => {
  const dataDir = await Deno.makeTempDir({ prefix: "tastesync-types-" });
  const config = await loadConfig([], { TASTESYNC_DATA_DIR: dataDir });
  const gateway = createGateway(config, jsonLogger("error", () => {}), [
    ...EVENT_TYPES,
    TABLE_FREED,
  ]);
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    gateway.app.fetch,
  );
  const url = `http://127.0.0.1:${server.addr.port}`;
  const post = (path: string, body: unknown, headers: Record<string, string> = {}) =>
    fetch(`${url}${path}`, {
      method: "POST",
      headers: { "content-type": "application/json", ...headers },
      body: JSON.stringify(body),
    });
  try {
    const table3 = await subscribeSse(url, "event_type=TableFreed&table=Table%203");
    const venue100 = await subscribeSse(url, "venue=100");
    const freed = (table: string, venue = 100) => ({
      venue,
      table,
      freed_at: "2025-03-02T13:00:00Z",
    });

    const viaEndpoint = await post("/v1/tables/freed", freed("Table 3"), {
      "idempotency-key": "tf-1",
    });
    assert.equal(viaEndpoint.status, 202);
    assert.equal((await viaEndpoint.json()).event_type, "TableFreed");
    for (const [id, body] of [["tf-2", freed("Table 4")], ["tf-3", freed("Table 3", 7)]] as const) {
      const res = await post("/v1/events", {
        event_id: id,
        event_type: "TableFreed",
        version: "v1",
        data: body,
      });
      assert.equal(res.status, 202);
      await res.body?.cancel();
    }
    const ci = await post("/v1/identifications", CUSTOMER_IDENTIFIED.versions.v1.example, {
      "idempotency-key": "ci-1",
    });
    assert.equal(ci.status, 202);
    const invalid = await post("/v1/events", {
      event_type: "TableFreed",
      version: 1,
      data: { ...freed("Table 5"), venue: -1 },
    });
    assert.equal(invalid.status, 422);
    assert.equal((await invalid.json()).errors[0].pointer, "/data/venue");

    const byTable = await table3.events(2);
    assert.deepEqual(byTable.map((e) => [e.event, e.data.event_id]), [
      ["TableFreed", "tf-1"],
      ["TableFreed", "tf-3"],
    ]);
    assert.equal(byTable[0].data.version, "v1");
    assert.deepEqual(byTable[0].data.data, freed("Table 3"));
    const byVenue = await venue100.events(3);
    assert.deepEqual(byVenue.map((e) => e.data.event_id), ["tf-1", "tf-2", "ci-1"]);
    await Promise.all([table3.close(), venue100.close()]);

    const bad = await fetch(`${url}/v1/stream?table=`);
    assert.equal(bad.status, 400);
    await bad.body?.cancel();

    const openapi = await (await fetch(`${url}/openapi.json`)).json();
    assert.ok(openapi.paths["/v1/tables/freed"].post);
    assert.ok(openapi.components.schemas.TableFreedV1);
    const asyncapi = await (await fetch(`${url}/asyncapi.json`)).json();
    assert.equal(asyncapi.channels["live-table_freed"].address, "notifications.table_freed");
    assert.ok(asyncapi.components.messages.TableFreedV1);
    const docs = await (await fetch(`${url}/docs`)).text();
    assert.match(docs, /TableFreed v1/);
    assert.match(docs, /POST \/v1\/tables\/freed/);
  } finally {
    gateway.subscriptions.closeAll();
    await server.shutdown();
    await gateway.close();
    await Deno.remove(dataDir, { recursive: true });
  }
});

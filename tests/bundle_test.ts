/**
 * The shipped artefact: `deno task bundle` (deploy/bundle.ts: `deno bundle` of
 * main.ts plus the Kafka client's wasm) runs as the gateway, on the embedded
 * log and on Kafka. (`deno compile` needs to download denort, which
 * this machine cannot; the bundle is the same program.)
 */
import assert from "node:assert/strict";
import { identification, KAFKA_BROKERS, startGateway, uniqueTopic } from "../testing/harness.ts";

const ROOT = new URL("..", import.meta.url).pathname;

Deno.test("the bundled gateway publishes on the embedded log and on Kafka", async () => {
  const dir = await Deno.makeTempDir({ prefix: "tastesync-bundle-" });
  const bundle = `${dir}/dist/gateway.js`;
  const built = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--frozen", "deploy/bundle.ts", bundle],
    cwd: ROOT,
  }).output();
  assert.equal(built.code, 0, new TextDecoder().decode(built.stderr));

  const backends: Record<string, string>[] = [
    { TASTESYNC_DATA_DIR: `${dir}/data` },
    { TASTESYNC_KAFKA_BROKERS: KAFKA_BROKERS, TASTESYNC_KAFKA_TOPIC: uniqueTopic("bundle") },
  ];
  for (const env of backends) {
    const gateway = await startGateway(env, { entry: bundle });
    try {
      const res = await gateway.post("/v1/identifications", identification());
      assert.equal(res.status, 202);
      assert.equal((await res.json()).duplicate, false);
    } finally {
      assert.equal(await gateway.stop(), 0);
    }
  }
});

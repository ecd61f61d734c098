/**
 * The default backend, end to end through a real gateway process: durability
 * across `kill -9`, dedup across restarts, graceful shutdown, bad settings.
 */
import assert from "node:assert/strict";
import { identification, startGateway } from "../testing/harness.ts";

Deno.test("embedded: every 2xx survives kill -9 under load, and dedup holds after restart", async () => {
  const dataDir = await Deno.makeTempDir({ prefix: "tastesync-kill9-" });
  const env = { TASTESYNC_DATA_DIR: dataDir };
  const gateway = await startGateway(env);
  const acked = new Map<string, { partition: number; offset: string }>();
  let sent = 0;
  let killed = false;
  const worker = async (w: number) => {
    for (let i = 0; !killed; i++) {
      const id = `k9-${w}-${i}`;
      sent++;
      try {
        const res = await gateway.post(
          "/v1/identifications",
          identification({ customer_id: `c${i % 50}` }),
          {
            "idempotency-key": id,
          },
        );
        const body = await res.json();
        if (res.status === 202) acked.set(id, { partition: body.partition, offset: body.offset });
      } catch {
        return; // the connection died with the process
      }
      if (acked.size >= 400 && !killed) {
        killed = true;
        await gateway.stop("SIGKILL");
      }
    }
  };
  await Promise.all(Array.from({ length: 16 }, (_, w) => worker(w)));
  assert.ok(acked.size >= 400, `only ${acked.size} acked of ${sent}`);

  const again = await startGateway(env);
  try {
    for (const id of acked.keys()) {
      const res = await again.post(
        "/v1/identifications",
        identification({ customer_id: "ignored" }),
        {
          "idempotency-key": id,
        },
      );
      // Different content under an acked id must conflict: the first write is there.
      assert.equal(res.status, 409, `event ${id} was acknowledged but is missing after kill -9`);
      await res.body?.cancel();
    }
    const [id, where] = acked.entries().next().value!;
    const w = Number(id.split("-")[2]);
    const dup = await again.post(
      "/v1/identifications",
      identification({ customer_id: `c${w % 50}` }),
      {
        "idempotency-key": id,
      },
    );
    assert.equal(dup.status, 200);
    const body = await dup.json();
    assert.deepEqual(
      { partition: body.partition, offset: body.offset, duplicate: body.duplicate },
      {
        ...where,
        duplicate: true,
      },
    );
  } finally {
    await again.stop();
  }
});

Deno.test("embedded: SIGTERM drains in-flight requests and exits 0", async () => {
  const dataDir = await Deno.makeTempDir({ prefix: "tastesync-term-" });
  const gateway = await startGateway({ TASTESYNC_DATA_DIR: dataDir });
  const posts = Array.from(
    { length: 50 },
    (_, i) =>
      gateway.post("/v1/identifications", identification(), { "idempotency-key": `term-${i}` })
        .then(async (r) => ({ status: r.status, body: await r.json() }))
        .catch(() => undefined),
  );
  await Promise.race(posts);
  const code = await gateway.stop("SIGTERM");
  assert.equal(code, 0);
  const answered = (await Promise.all(posts)).filter((p) => p !== undefined);
  assert.ok(answered.some((p) => p.status === 202));
  const again = await startGateway({ TASTESYNC_DATA_DIR: dataDir });
  try {
    for (const { status, body } of answered) {
      if (status !== 202) continue;
      const res = await again.post("/v1/identifications", identification(), {
        "idempotency-key": body.event_id,
      });
      assert.equal(res.status, 200);
      assert.equal((await res.json()).offset, body.offset);
    }
  } finally {
    await again.stop();
  }
});

Deno.test("an invalid setting stops start-up with a non-zero exit naming the key", async () => {
  const bad = await startGateway({ TASTESYNC_HTTP_PORT: "eighty" }, { ready: false }).then(
    () => assert.fail("started with an invalid port"),
    (error: Error) => error.message,
  );
  assert.match(bad, /exited with 2/);
  assert.match(bad, /http\.port \(TASTESYNC_HTTP_PORT\)/);

  const file = await Deno.makeTempFile({ suffix: ".yaml" });
  await Deno.writeTextFile(file, "kafka:\n  broker: not-a-broker\n");
  const fromFile = await startGateway({}, { ready: false, args: ["--config", file] }).then(
    () => assert.fail("started with an invalid broker"),
    (error: Error) => error.message,
  );
  assert.match(fromFile, /kafka\.broker/);
});

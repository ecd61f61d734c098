import assert from "node:assert/strict";
import { type Assumptions, type BenchReport, plan } from "../bench/capacity.ts";

const run = (rate: number) => ({ rate, p50: 1, p99: 2, p999: 3, failed: 0 });

/** Round figures, so every line of the plan can be checked by hand. */
const BENCH: BenchReport = {
  cores: 2,
  baselines: { hello: 100_000, honoZod: 50_000, kafkaRaw: 60_000 },
  publish: { embedded: { "c=64": run(10_000) }, kafka: { "c=64": run(5_000) } },
  subscriptions: {
    durableP99Ms: 10,
    liveP99Ms: 2,
    fanOutDeliveriesPerSecond: 40_000,
    bytesPerConnection: 32 * 1024,
    replayEventsPerSecond: 30_000,
  },
  tracing: {},
  auth: {},
};

const MODEL: Assumptions = JSON.parse(
  await Deno.readTextFile(new URL("../docs/capacity_assumptions.json", import.meta.url)),
);

Deno.test("capacity: each line of the plan follows its formula from the bench figures", () => {
  const scenario = { name: "test", visitsPerDay: 8_640_000, restaurants: 10_000 };
  const lines = Object.fromEntries(plan(BENCH, MODEL, scenario).map((l) => [l.what, l.value]));
  // 8.64M visits x 4 ids / 86,400 s = 400/s; peak hour 8.64M x 0.2 x 4 / 3,600 = 1,920/s; x3.
  assert.equal(lines["events/s, day average"], 400);
  assert.equal(lines["events/s, peak second"], 5_760);
  assert.equal(lines["partitions of customer-events"], Math.ceil(5_760 / 500));
  // 5,760 / (5,000 x 0.5) = 2.3 -> 3, plus a spare.
  assert.equal(lines["gateways needed to publish"], 4);
  // 5,760 x 7 / (40,000 x 0.5) = 2.02 -> 3, plus a spare.
  assert.equal(lines["gateways needed to fan out"], 4);
  // Seated: 8.64M x 0.2 x 1.25 = 2.16M; x 0.25 app = 540,000; + 30,000 screens; / 20,000 + 1.
  assert.equal(lines["gateways needed to hold the connections"], 30);
  assert.equal(lines["gateway processes"], 30);
  assert.equal(lines["Kafka brokers"], Math.max(3, Math.ceil(5_760 * 3 / 30_000)));
  const disk = 400 * 86_400 * 7 * 700 * 3 / 3 / 1024 ** 3;
  assert.ok(Math.abs(lines["Kafka disk per broker, GB"] - disk) < 1e-9);
  // 570,000 clients + 3 groups x 30 gateways, over 29 gateways (one down).
  assert.equal(lines["subscriptions open at the peak"], 570_090);
  assert.equal(lines["connections per gateway (one process down)"], 570_090 / 29);
  assert.ok(
    Math.abs(lines["memory per gateway, MB"] - (150 + 570_090 / 29 * 32 / 1024)) < 1e-9,
  );
});

Deno.test("capacity: `deno task capacity` prints the table of every scenario from a bench file", async () => {
  const file = await Deno.makeTempFile({ suffix: ".json" });
  try {
    await Deno.writeTextFile(file, JSON.stringify(BENCH));
    const out = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "--frozen",
        "--allow-read",
        new URL("../bench/capacity.ts", import.meta.url).pathname,
        "--bench",
        file,
        "--assumptions",
        new URL("../docs/capacity_assumptions.json", import.meta.url).pathname,
      ],
    }).output();
    const text = new TextDecoder().decode(out.stdout);
    assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
    for (const s of MODEL.scenarios) assert.ok(text.includes(s.name), `names ${s.name}`);
    assert.match(text, /\| gateway processes \| \d+ \| \d+ \|/);
  } finally {
    await Deno.remove(file);
  }
});

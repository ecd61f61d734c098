/**
 * The monitoring files in `deploy/prometheus/`: the scrape config, the
 * alerting rules and the Grafana dashboard are well formed, and every metric
 * they use is one a real gateway process exposes at `/metrics`.
 */
import assert from "node:assert/strict";
import { parse } from "yaml";
import { parseConfig } from "../src/config.ts";
import { startGateway } from "../testing/harness.ts";

const DIR = new URL("../deploy/prometheus/", import.meta.url);
const JOB = "tastesync-gateway";

// deno-lint-ignore no-explicit-any
type Any = any;

function readText(name: string): Promise<string> {
  return Deno.readTextFile(new URL(name, DIR));
}

/** Every `tastesync_*` metric family named in `text`, without histogram series suffixes. */
function metricFamilies(text: string): Set<string> {
  const names = text.match(/tastesync_[a-z_]+/g) ?? [];
  return new Set(names.map((n) => n.replace(/_(bucket|sum|count)$/, "")));
}

/** The `/metrics` text of a real gateway process on the embedded log (no Kafka needed). */
async function scrapeGateway(): Promise<string> {
  const dataDir = await Deno.makeTempDir({ prefix: "tastesync-metrics-" });
  const gw = await startGateway({ TASTESYNC_DATA_DIR: dataDir });
  try {
    const res = await fetch(`${gw.url}/metrics`);
    const exposition = await res.text();
    assert.equal(res.status, 200, `GET /metrics: ${res.status}\n${exposition}`);
    assert.match(res.headers.get("content-type") ?? "", /^text\/plain/);
    return exposition;
  } finally {
    await gw.stop();
    await Deno.remove(dataDir, { recursive: true });
  }
}

/** Every rule of every group in `alerts.yml`. */
function alertRules(alerts: Any): Any[] {
  return alerts.groups.flatMap((g: Any) => g.rules);
}

/** Every panel of the dashboard, including panels nested in collapsed rows. */
function dashboardPanels(dashboard: Any): Any[] {
  return (dashboard.panels as Any[]).flatMap((p) => [p, ...(p.panels ?? [])]);
}

Deno.test("prometheus: scrape config scrapes the gateways' /metrics and loads alerts.yml", async () => {
  const config = parse(await readText("prometheus.yml"));
  assert.deepEqual(config.rule_files, ["alerts.yml"]);
  const jobs = config.scrape_configs.filter((s: Any) => s.job_name === JOB);
  assert.equal(jobs.length, 1, `one scrape job named ${JOB}`);
  const [job] = jobs;
  assert.equal(job.metrics_path ?? "/metrics", "/metrics");
  assert.equal(job.scrape_interval ?? config.global?.scrape_interval, "15s");
  const targets = job.static_configs.flatMap((s: Any) => s.targets);
  assert.deepEqual(targets, ["tastesync-gateway-1:9464", "tastesync-gateway-2:9464"]);
});

Deno.test("prometheus: the scrape port is the production config's unauthenticated metrics.listen", async () => {
  const production = parseConfig(
    await Deno.readTextFile(new URL("../deploy/config.production.yaml", import.meta.url)),
    {},
  );
  assert.equal(production.auth.mode, "required");
  const config = parse(await readText("prometheus.yml"));
  const [job] = config.scrape_configs.filter((s: Any) => s.job_name === JOB);
  assert.equal(job.authorization, undefined, "metrics.listen needs no credential");
  for (const target of job.static_configs.flatMap((s: Any) => s.targets)) {
    assert.equal(Number(target.split(":").at(-1)), production.metrics.listen?.port, target);
  }
});

Deno.test("prometheus: every alerting rule has an expression, a duration, a severity and a summary", async () => {
  const alerts = parse(await readText("alerts.yml"));
  assert.deepEqual(alerts.groups.map((g: Any) => g.name), [JOB]);
  const rules = alertRules(alerts);
  assert.ok(rules.length >= 6, `only ${rules.length} rules`);
  for (const rule of rules) {
    const name = rule.alert ?? JSON.stringify(rule);
    assert.equal(typeof rule.alert, "string", `${name}: alert`);
    assert.ok(typeof rule.expr === "string" && rule.expr.trim() !== "", `${name}: expr`);
    assert.match(String(rule.for), /^\d+[smhdwy]$/, `${name}: for`);
    assert.ok(["critical", "warning", "info"].includes(rule.labels?.severity), `${name}: severity`);
    assert.ok(
      typeof rule.annotations?.summary === "string" && rule.annotations.summary !== "",
      `${name}: annotations.summary`,
    );
    assert.ok(
      typeof rule.annotations?.description === "string" && rule.annotations.description !== "",
      `${name}: annotations.description`,
    );
  }
  const names = rules.map((r: Any) => r.alert);
  assert.equal(new Set(names).size, names.length, `duplicate alert names: ${names}`);
  // What each alert must watch (the SLOs in the brief), not how it is spelled.
  const exprOf = (metric: string) => {
    const found = rules.filter((r: Any) => r.expr.includes(metric));
    assert.equal(found.length, 1, `one alert on ${metric}`);
    return found[0];
  };
  const errors = exprOf("tastesync_publish_errors_total");
  assert.match(errors.expr, /log_unavailable/);
  assert.match(errors.expr, /internal/);
  assert.match(errors.expr, /0\.01\b/);
  assert.equal(errors.for, "5m");
  const latency = exprOf("tastesync_publish_duration_seconds_bucket");
  assert.match(latency.expr, /histogram_quantile\(\s*0\.99/);
  assert.match(latency.expr, /0\.05\b/);
  assert.equal(latency.for, "10m");
  const lag = exprOf("tastesync_delivery_lag_seconds_bucket");
  assert.match(lag.expr, /histogram_quantile\(\s*0\.99/);
  assert.equal(lag.for, "5m");
  const consumerLag = exprOf("tastesync_kafka_consumer_lag");
  assert.match(consumerLag.expr, /sum by \((job, )?group\)/);
  assert.match(consumerLag.expr, /10000/);
  assert.equal(consumerLag.for, "10m");
  const slow = exprOf("tastesync_slow_consumer_disconnects_total");
  assert.match(slow.expr, /increase\(.*\[10m\]\)/s);
  assert.equal(slow.labels.severity, "warning");
  assert.ok(
    rules.some((r: Any) => /\bup\b.*==\s*0/.test(r.expr)),
    "a gateway-down alert on up == 0",
  );
});

Deno.test("prometheus: the Grafana dashboard is valid JSON on a ${DS_PROMETHEUS} data source", async () => {
  const dashboard = JSON.parse(await readText("grafana-dashboard.json"));
  assert.equal(dashboard.schemaVersion, 39);
  assert.ok(dashboard.__inputs.some((i: Any) => i.name === "DS_PROMETHEUS"), "DS_PROMETHEUS input");
  assert.ok(
    dashboard.templating.list.some((v: Any) =>
      v.name === "DS_PROMETHEUS" && v.type === "datasource"
    ),
    "DS_PROMETHEUS templating variable",
  );
  const panels = dashboardPanels(dashboard).filter((p) => p.type !== "row");
  assert.ok(panels.length >= 12, `only ${panels.length} panels`);
  const ids = panels.map((p) => p.id);
  assert.equal(new Set(ids).size, ids.length, `duplicate panel ids: ${ids}`);
  for (const panel of panels) {
    assert.equal(panel.datasource?.uid, "${DS_PROMETHEUS}", `${panel.title}: datasource`);
    assert.ok(panel.gridPos, `${panel.title}: gridPos`);
    assert.ok(panel.targets?.length > 0, `${panel.title}: targets`);
    for (const target of panel.targets) {
      assert.ok(typeof target.expr === "string" && target.expr !== "", `${panel.title}: expr`);
    }
  }
});

Deno.test("prometheus: every metric the alerts and the dashboard use is exposed by a real gateway", async () => {
  const used = new Map<string, string[]>();
  for (const file of ["alerts.yml", "grafana-dashboard.json"]) {
    const text = await readText(file);
    // Parse first, so a broken file fails here rather than as a missing metric.
    if (file.endsWith(".json")) JSON.parse(text);
    else parse(text);
    for (const name of metricFamilies(text)) used.set(name, [...(used.get(name) ?? []), file]);
  }
  assert.ok(used.size > 0, "no tastesync_ metrics found in the alerts or the dashboard");

  const exposition = await scrapeGateway();
  const exposed = new Set(
    [...exposition.matchAll(/^# TYPE (\S+) \S+$/gm)].map((m) => m[1]),
  );
  const missing = [...used].filter(([name]) => !exposed.has(name))
    .map(([name, files]) => `${name} (${files.join(", ")})`);
  assert.deepEqual(
    missing,
    [],
    `used but not exposed:\n${missing.join("\n")}\n\nexposed:\n${[...exposed].sort().join("\n")}`,
  );
});

Deno.test("prometheus: a real gateway's /metrics passes `promtool check metrics` and reads real process values", async () => {
  const exposition = await scrapeGateway();
  let promtool: Deno.ChildProcess;
  try {
    promtool = new Deno.Command("promtool", {
      args: ["check", "metrics"],
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
  } catch (e) {
    throw new Error(
      "promtool not found: install Debian's prometheus package (deploy/local/services.sh install)",
      { cause: e },
    );
  }
  const writer = promtool.stdin.getWriter();
  await writer.write(new TextEncoder().encode(exposition));
  await writer.close();
  const out = await promtool.output();
  const problems = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
  assert.equal(problems.trim(), "", `promtool check metrics:\n${problems}`);
  assert.equal(out.code, 0, "promtool check metrics exit code");

  const value = (name: string) => {
    const sample = exposition.match(new RegExp(`^${name} (\\S+)$`, "m"));
    assert.ok(sample, `${name} is not exposed`);
    return Number(sample[1]);
  };
  for (
    const name of [
      "tastesync_process_resident_memory_bytes",
      "tastesync_nodejs_heap_size_used_bytes",
      "tastesync_nodejs_heap_size_total_bytes",
      "tastesync_process_open_fds",
      "tastesync_process_max_fds",
      "tastesync_process_start_time_seconds",
      "tastesync_process_cpu_seconds_total",
    ]
  ) {
    assert.ok(value(name) > 0, `${name} = ${value(name)}`);
  }
});

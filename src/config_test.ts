import assert from "node:assert/strict";
import { ConfigError } from "./errors.ts";
import { DEFAULT_LISTEN_BACKLOG, kafkaBrokers, loadConfig, parseConfig } from "./config.ts";

Deno.test("parseConfig applies defaults", () => {
  const c = parseConfig(undefined, {});
  assert.equal(c.http.port, 8080);
  assert.equal(c.kafka.topic, "customer-events");
  assert.deepEqual(kafkaBrokers(c), []);
  assert.equal(c.dedup.window, 86_400_000);
  assert.equal(c.http.body_limit_bytes, 65_536);
});

Deno.test("parseConfig reads YAML with the design's kafka.broker, env overrides it", () => {
  const yaml = "kafka:\n  broker: kafka-1:9092\n  topic: from-file\nhttp:\n  port: 9000\n";
  const c = parseConfig(yaml, { TASTESYNC_KAFKA_TOPIC: "from-env", TASTESYNC_DEDUP_WINDOW: "2h" });
  assert.deepEqual(kafkaBrokers(c), ["kafka-1:9092"]);
  assert.equal(c.kafka.topic, "from-env");
  assert.equal(c.http.port, 9000);
  assert.equal(c.dedup.window, 7_200_000);
});

Deno.test("parseConfig splits TASTESYNC_KAFKA_BROKERS", () => {
  const c = parseConfig(undefined, { TASTESYNC_KAFKA_BROKERS: "a:9092, b:9093" });
  assert.deepEqual(kafkaBrokers(c), ["a:9092", "b:9093"]);
});

Deno.test("parseConfig names the invalid key and its variable", () => {
  assert.throws(
    () => parseConfig(undefined, { TASTESYNC_HTTP_PORT: "eighty" }),
    (e) => e instanceof ConfigError && e.key === "http.port (TASTESYNC_HTTP_PORT)",
  );
  assert.throws(
    () => parseConfig("kafka:\n  brokers: [nope]\n", {}),
    (e) => e instanceof ConfigError && e.key === "kafka.brokers.0",
  );
  assert.throws(
    () => parseConfig("kafka:\n  topik: x\n", {}),
    (e) => e instanceof ConfigError && e.key === "kafka.topik",
  );
  assert.throws(() => parseConfig("- a\n", {}), ConfigError);
});

Deno.test("the example configs in deploy/ are valid", async () => {
  const local = parseConfig(
    await Deno.readTextFile(new URL("../deploy/config.example.yaml", import.meta.url)),
    {},
  );
  assert.deepEqual(kafkaBrokers(local), ["127.0.0.1:9092"]);
  const production = parseConfig(
    await Deno.readTextFile(new URL("../deploy/config.production.yaml", import.meta.url)),
    {},
  );
  assert.equal(production.kafka.replication_factor, 3);
  assert.equal(kafkaBrokers(production).length, 3);
});

Deno.test("subscriptions.stall_timeout defaults to 30 s and TASTESYNC_SUBSCRIPTIONS_STALL_TIMEOUT sets it", () => {
  assert.equal(parseConfig(undefined, {}).subscriptions.stall_timeout, 30_000);
  const c = parseConfig(undefined, { TASTESYNC_SUBSCRIPTIONS_STALL_TIMEOUT: "750ms" });
  assert.equal(c.subscriptions.stall_timeout, 750);
  assert.throws(
    () => parseConfig(undefined, { TASTESYNC_SUBSCRIPTIONS_STALL_TIMEOUT: "soon" }),
    (e) =>
      e instanceof ConfigError &&
      e.key === "subscriptions.stall_timeout (TASTESYNC_SUBSCRIPTIONS_STALL_TIMEOUT)",
  );
});

Deno.test("auth.mode none listens on loopback by default and refuses a public host unless allowed", () => {
  const c = parseConfig(undefined, {});
  assert.equal(c.auth.mode, "none");
  assert.equal(c.http.host, "127.0.0.1");
  assert.throws(
    () => parseConfig(undefined, { TASTESYNC_HTTP_HOST: "0.0.0.0" }),
    (e) =>
      e instanceof ConfigError && e.key === "http.host (TASTESYNC_HTTP_HOST)" &&
      /auth\.allow_anonymous: true/.test(e.message) && /auth\.mode: required/.test(e.message),
  );
  for (const host of ["127.0.0.1", "127.1.2.3", "localhost", "::1", "[::1]"]) {
    assert.equal(parseConfig(`http:\n  host: "${host}"\n`, {}).http.host, host);
  }
  const open = parseConfig(undefined, {
    TASTESYNC_HTTP_HOST: "0.0.0.0",
    TASTESYNC_AUTH_ALLOW_ANONYMOUS: "true",
  });
  assert.equal(open.http.host, "0.0.0.0");
  assert.throws(
    () => parseConfig(undefined, { TASTESYNC_AUTH_ALLOW_ANONYMOUS: "yes" }),
    (e) => e instanceof ConfigError && e.key.startsWith("auth.allow_anonymous"),
  );
});

Deno.test("auth.mode required needs API keys or a JWT issuer, and listens on every address by default", () => {
  assert.throws(
    () => parseConfig(undefined, { TASTESYNC_AUTH_MODE: "required" }),
    (e) => e instanceof ConfigError && e.key === "auth.mode (TASTESYNC_AUTH_MODE)",
  );
  const keys = parseConfig(undefined, {
    TASTESYNC_AUTH_MODE: "required",
    TASTESYNC_AUTH_API_KEYS_FILE: "/etc/keys.yaml",
  });
  assert.equal(keys.http.host, "0.0.0.0");
  assert.equal(keys.auth.api_keys_file, "/etc/keys.yaml");
  const jwt = parseConfig(undefined, {
    TASTESYNC_AUTH_MODE: "required",
    TASTESYNC_AUTH_ISSUER: "https://login.example.com/",
    TASTESYNC_AUTH_AUDIENCE: "gateway",
    TASTESYNC_AUTH_JWKS_URL: "https://login.example.com/jwks.json",
    TASTESYNC_AUTH_JWT_ALGORITHMS: "ES256, EdDSA",
    TASTESYNC_AUTH_JWT_CLOCK_SKEW: "5s",
    TASTESYNC_AUTH_JWKS_COOLDOWN: "1m",
    TASTESYNC_AUTH_FAILURES_THRESHOLD: "5",
    TASTESYNC_AUTH_FAILURES_MAX_DELAY: "2m",
  });
  assert.deepEqual(jwt.auth.jwt.algorithms, ["ES256", "EdDSA"]);
  assert.equal(jwt.auth.jwt.clock_skew, 5000);
  assert.equal(jwt.auth.jwt.jwks_cooldown, 60_000);
  assert.equal(jwt.auth.failures.threshold, 5);
  assert.equal(jwt.auth.failures.max_delay, 120_000);
});

Deno.test("JWT settings: an issuer needs its keys and an audience; no HS or none; skew at most 30 s", () => {
  const base = { TASTESYNC_AUTH_MODE: "required", TASTESYNC_AUTH_ISSUER: "https://i/" };
  const invalid: [Record<string, string>, string][] = [
    [base, "auth.jwt.issuer"],
    [{ ...base, TASTESYNC_AUTH_JWKS_FILE: "/jwks.json" }, "auth.jwt.audience"],
    [{ TASTESYNC_AUTH_JWKS_FILE: "/jwks.json" }, "auth.jwt.issuer"],
    [{ TASTESYNC_AUTH_JWT_ALGORITHMS: "HS256" }, "auth.jwt.algorithms.0"],
    [{ TASTESYNC_AUTH_JWT_ALGORITHMS: "none" }, "auth.jwt.algorithms.0"],
    [{ TASTESYNC_AUTH_JWT_CLOCK_SKEW: "31s" }, "auth.jwt.clock_skew"],
    [{ TASTESYNC_AUTH_JWKS_URL: "ftp://x/jwks" }, "auth.jwt.jwks_url"],
  ];
  for (const [env, key] of invalid) {
    assert.throws(
      () => parseConfig(undefined, env),
      (e) => e instanceof ConfigError && e.key.startsWith(key),
      `${JSON.stringify(env)} should name ${key}`,
    );
  }
  const two = parseConfig(
    `auth:
  mode: required
  jwt:
    audience: gateway
    issuers:
      - {issuer: "https://a/", jwks_url: "https://a/jwks.json"}
      - {issuer: "https://b/", jwks_file: /etc/b.json}
`,
    {},
  );
  assert.equal(two.auth.jwt.issuers.length, 2);
  assert.throws(
    () =>
      parseConfig(
        `auth:\n  jwt:\n    audience: g\n    issuers: [{issuer: "https://a/"}]\n`,
        {},
      ),
    (e) => e instanceof ConfigError && e.key.startsWith("auth.jwt.issuers.0"),
  );
});

Deno.test("metrics.listen is a host and port, from TASTESYNC_METRICS_LISTEN too", () => {
  assert.equal(parseConfig(undefined, {}).metrics.listen, undefined);
  assert.deepEqual(
    parseConfig(undefined, { TASTESYNC_METRICS_LISTEN: "0.0.0.0:9464" }).metrics.listen,
    { hostname: "0.0.0.0", port: 9464 },
  );
  assert.deepEqual(
    parseConfig('metrics:\n  listen: "[::]:9464"\n', {}).metrics.listen,
    { hostname: "::", port: 9464 },
  );
  assert.throws(() => parseConfig(undefined, { TASTESYNC_METRICS_LISTEN: "9464" }), ConfigError);
});

Deno.test("TASTESYNC_CONFIG names the config file as --config does; --config wins", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${dir}/a.yaml`, "kafka:\n  topic: from-env-file\n");
    await Deno.writeTextFile(`${dir}/b.yaml`, "kafka:\n  topic: from-flag-file\n");
    const env = { TASTESYNC_CONFIG: `${dir}/a.yaml` };
    assert.equal((await loadConfig([], env)).kafka.topic, "from-env-file");
    assert.equal(
      (await loadConfig(["--config", `${dir}/b.yaml`], env)).kafka.topic,
      "from-flag-file",
    );
    await assert.rejects(
      loadConfig([], { TASTESYNC_CONFIG: `${dir}/missing.yaml` }),
      (e) => e instanceof ConfigError && e.key === "TASTESYNC_CONFIG",
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("client limits, origins and subscribable topics come from the environment", () => {
  const c = parseConfig(undefined, {
    TASTESYNC_HTTP_ALLOWED_ORIGINS: "https://app.example.com, http://localhost:3000",
    TASTESYNC_HTTP_MAX_CONNECTIONS: "500",
    TASTESYNC_HTTP_SATURATION_TIMEOUT: "5s",
    TASTESYNC_HTTP_LISTEN_BACKLOG: "1024",
    TASTESYNC_SUBSCRIPTIONS_TOPICS: "orders,kitchen",
    TASTESYNC_AUTH_LIMITS_PUBLISH_PER_SECOND: "0.5",
    TASTESYNC_AUTH_LIMITS_PUBLISH_BURST: "10",
    TASTESYNC_AUTH_LIMITS_SUBSCRIPTIONS: "4",
  });
  assert.deepEqual(c.http.allowed_origins, ["https://app.example.com", "http://localhost:3000"]);
  assert.equal(c.http.max_connections, 500);
  assert.equal(c.http.saturation_timeout, 5000);
  assert.equal(c.http.listen_backlog, 1024);
  assert.equal(parseConfig(undefined, {}).http.listen_backlog, DEFAULT_LISTEN_BACKLOG);
  assert.throws(
    () => parseConfig(undefined, { TASTESYNC_HTTP_LISTEN_BACKLOG: "0" }),
    (e: unknown) => e instanceof ConfigError && /listen_backlog/.test(e.message),
  );
  assert.deepEqual(c.subscriptions.topics, ["orders", "kitchen"]);
  assert.deepEqual(c.auth.limits, { publish_per_second: 0.5, publish_burst: 10, subscriptions: 4 });
  assert.throws(
    () => parseConfig(undefined, { TASTESYNC_HTTP_ALLOWED_ORIGINS: "https://app.example.com/" }),
    (e: unknown) => e instanceof ConfigError && /allowed_origins/.test(e.message),
  );
});

Deno.test("every scalar setting has its variable: broker, retry wait, connect timeout, frame limit, SSE retry", () => {
  const config = parseConfig(undefined, {
    TASTESYNC_KAFKA_BROKER: "kafka:9092",
    TASTESYNC_KAFKA_INITIAL_RETRY_MS: "250",
    TASTESYNC_KAFKA_CONNECTION_TIMEOUT_MS: "3000",
    TASTESYNC_SUBSCRIPTIONS_MAX_FRAME_BYTES: "8192",
    TASTESYNC_SUBSCRIPTIONS_SSE_RETRY: "5s",
  });
  assert.equal(config.kafka.broker, "kafka:9092");
  assert.equal(config.kafka.initial_retry_ms, 250);
  assert.equal(config.kafka.connection_timeout_ms, 3000);
  assert.equal(config.subscriptions.max_frame_bytes, 8192);
  assert.equal(config.subscriptions.sse_retry, 5000);
});

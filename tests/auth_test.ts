/**
 * Authentication and permissions end to end: real gateway processes with
 * `auth.mode: required`, real API keys, and real JWTs signed here with
 * `jose` and verified by the gateway against a JWKS served by this test
 * process. Every gateway logs at `debug`, and its whole log output is
 * searched for every token and key the test used.
 */
import assert from "node:assert/strict";
import { mintApiKey } from "../src/auth/api_keys.ts";
import { BACKENDS } from "../testing/backends.ts";
import {
  assertProblem,
  type GatewayProcess,
  identification,
  startGateway,
  subscribeSse,
  subscribeWs,
  waitUntil,
} from "../testing/harness.ts";
import {
  apiKeysFile,
  hs256WithPublicKey,
  jwksOf,
  type JwksServer,
  serveJwks,
  type SigningKey,
  signingKey,
  signToken,
  TEST_AUDIENCE,
  TEST_ISSUER,
  type TestClaims,
  unsignedToken,
} from "../testing/tokens.ts";

const OTHER_ISSUER = "https://other-issuer.test/";
const CHALLENGE = 'Bearer realm="tastesync", error="invalid_token"';

/** The API keys of every test gateway. */
const KEYS = [
  { id: "tablet-100", scopes: ["publish:CustomerIdentified"], venues: [100] },
  { id: "screen-100", scopes: ["subscribe:*"], venues: [100] },
  { id: "analytics", scopes: ["subscribe:*", "group:analytics-*"] },
  { id: "hq", scopes: ["publish:*"] },
  { id: "monitor", scopes: ["admin"] },
];

const now = () => Math.floor(Date.now() / 1000);
const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
const EXAMPLE_BEACON = identification().beacon as Record<string, unknown>;
/** An identification at `venue` (beacon major). */
const atVenue = (venue: number, customer_id = `c-${venue}`) =>
  identification({ customer_id, beacon: { ...EXAMPLE_BEACON, major: venue } });

/** A gateway with `auth.mode: required`, its keys, its issuer's key and JWKS server. */
interface Secured {
  gateway: GatewayProcess;
  keys: Record<string, string>;
  signer: SigningKey;
  jwks: JwksServer;
  /** Signs a token with the issuer's key (and remembers it, for the log search). */
  token(claims?: TestClaims): Promise<string>;
  /** Remembers a secret the gateway must never log. */
  secret(value: string): string;
  /** Stops everything, then searches the gateway's log for every secret used. */
  close(): Promise<void>;
}

async function secured(env: Record<string, string> = {}): Promise<Secured> {
  const signer = await signingKey("ES256", "k1");
  const jwks = serveJwksOf(signer);
  const file = await apiKeysFile(KEYS);
  const secrets = new Set(Object.values(file.keys));
  const gateway = await startGateway({
    TASTESYNC_LOG_LEVEL: "debug",
    TASTESYNC_DATA_DIR: await Deno.makeTempDir({ prefix: "tastesync-auth-" }),
    TASTESYNC_AUTH_MODE: "required",
    TASTESYNC_AUTH_API_KEYS_FILE: file.path,
    TASTESYNC_AUTH_ISSUER: TEST_ISSUER,
    TASTESYNC_AUTH_AUDIENCE: TEST_AUDIENCE,
    TASTESYNC_AUTH_JWKS_URL: jwks.url,
    TASTESYNC_AUTH_JWT_CLOCK_SKEW: "0ms",
    // Every refusal here comes from 127.0.0.1; only the slow-down test slows it down.
    TASTESYNC_AUTH_FAILURES_THRESHOLD: "1000",
    ...env,
  });
  const secret = (value: string) => (secrets.add(value), value);
  return {
    gateway,
    keys: file.keys,
    signer,
    jwks,
    token: async (claims) => secret(await signToken(signer, claims)),
    secret,
    async close() {
      await gateway.stop();
      await jwks.close();
      await Deno.remove(file.path);
      assertNothingLeaked(gateway.lines, secrets);
    },
  };
}

/** Serves the JWKS of `keys`. */
function serveJwksOf(...keys: SigningKey[]): JwksServer {
  return serveJwks(jwksOf(...keys));
}

/** No secret, nor its signature part alone, appears anywhere in the log. */
function assertNothingLeaked(lines: string[], secrets: Iterable<string>): void {
  assert.ok(lines.length > 0, "the gateway logged nothing");
  const log = lines.join("\n");
  for (const secret of secrets) {
    const signature = secret.split(".").at(-1)!;
    assert.ok(!log.includes(secret), `a secret is in the log: ${secret.slice(0, 12)}...`);
    if (signature.length >= 16) assert.ok(!log.includes(signature), "a signature is in the log");
  }
}

async function publishStatus(
  gateway: GatewayProcess,
  headers: Record<string, string>,
  body = atVenue(100),
): Promise<number> {
  const res = await gateway.post("/v1/identifications", body, headers);
  await res.body?.cancel();
  return res.status;
}

Deno.test("required: no, malformed, unknown, expired, early, foreign, forged tokens get 401; good ones pass", async () => {
  const s = await secured();
  try {
    const { gateway, keys } = s;
    const missing = await gateway.post("/v1/identifications", atVenue(100));
    assert.equal(missing.headers.get("www-authenticate"), CHALLENGE);
    await assertProblem(missing, 401);

    const stranger = await signingKey("ES256", "k-unknown");
    const impostor = { ...await signingKey("ES256"), kid: "k1" };
    const publisher = { scope: "publish:CustomerIdentified" };
    const refused: [string, string][] = [
      ["malformed", s.secret("not-a-token")],
      ["unknown API key", s.secret(mintApiKey())],
      ["expired", await s.token({ ...publisher, exp: now() - 5 })],
      ["not yet valid", await s.token({ ...publisher, nbf: now() + 600 })],
      ["wrong issuer", await s.token({ ...publisher, iss: OTHER_ISSUER })],
      ["wrong audience", await s.token({ ...publisher, aud: "another-service" })],
      ["alg none", s.secret(unsignedToken(publisher, "k1"))],
      ["HS256 with the public key", s.secret(await hs256WithPublicKey(s.signer, publisher))],
      ["unknown kid", s.secret(await signToken(stranger, publisher))],
      ["signed by another key under a known kid", s.secret(await signToken(impostor, publisher))],
    ];
    for (const [what, token] of refused) {
      const res = await gateway.post("/v1/identifications", atVenue(100), bearer(token));
      assert.equal(res.headers.get("www-authenticate"), CHALLENGE, what);
      const body = await assertProblem(res, 401);
      assert.equal(body.type, "/docs#problem-unauthorized", what);
    }
    const basic = await gateway.post("/v1/identifications", atVenue(100), {
      authorization: "Basic dXNlcjpwYXNz",
    });
    await assertProblem(basic, 401);

    assert.equal(await publishStatus(gateway, bearer(await s.token(publisher))), 202);
    assert.equal(await publishStatus(gateway, bearer(keys.hq)), 202);
    assert.equal(await publishStatus(gateway, bearer(keys["tablet-100"])), 202);

    const noScope = await gateway.post(
      "/v1/identifications",
      atVenue(100),
      bearer(await s.token({ scope: "subscribe:*" })),
    );
    assert.match(String((await assertProblem(noScope, 403)).detail), /publish:CustomerIdentified/);
    const subscribeOnly = await fetch(`${gateway.url}/v1/stream`, {
      headers: bearer(keys["tablet-100"]),
    });
    assert.match(String((await assertProblem(subscribeOnly, 403)).detail), /subscribe:/);
    const wsNoScope = await fetch(`${gateway.url}/v1/subscribe`, {
      headers: bearer(keys["tablet-100"]),
    });
    await assertProblem(wsNoScope, 403);
    const wsNoToken = await fetch(`${gateway.url}/v1/subscribe`);
    await assertProblem(wsNoToken, 401);

    const health = await fetch(`${gateway.url}/healthz`);
    assert.equal(health.status, 200, "probes need no credential");
    await health.body?.cancel();

    const metrics = (headers: Record<string, string>) =>
      fetch(`${gateway.url}/metrics`, { headers });
    await assertProblem(await metrics({}), 401);
    await assertProblem(await metrics(bearer(keys.hq)), 403);
    const scraped = await metrics(bearer(keys.monitor));
    const exposition = await scraped.text();
    assert.equal(scraped.status, 200);
    for (const reason of ["missing", "malformed", "unknown_key", "expired", "not_yet_valid"]) {
      assert.match(exposition, new RegExp(`tastesync_auth_failures_total\\{reason="${reason}"\\}`));
    }
    for (const reason of ["issuer", "audience", "algorithm", "unknown_kid", "signature", "scope"]) {
      assert.match(exposition, new RegExp(`tastesync_auth_failures_total\\{reason="${reason}"\\}`));
    }
    const refusals = gateway.lines.map((l) => JSON.parse(l)).filter((l) =>
      l.msg === "Request refused"
    );
    assert.ok(refusals.every((l) => l.level === "info"));
    assert.ok(refusals.some((l) => l.reason === "scope" && l.principal === "tablet-100"));
  } finally {
    await s.close();
  }
});

Deno.test("required: browsers send the token as a WebSocket subprotocol or SSE's access_token", async () => {
  const s = await secured();
  try {
    const token = await s.token({ scope: "subscribe:*" });
    const ws = new WebSocket(`${s.gateway.url.replace("http", "ws")}/v1/subscribe`, [
      "tastesync.v1",
      `bearer.${token}`,
    ]);
    const first = await new Promise<Record<string, unknown>>((resolve, reject) => {
      ws.onmessage = (e) => resolve(JSON.parse(e.data));
      ws.onerror = () => reject(new Error("the WebSocket did not open"));
    });
    assert.equal(ws.protocol, "tastesync.v1", "the gateway selects tastesync.v1, never the token");
    assert.equal(first.type, "ready");
    const closed = new Promise((resolve) => ws.onclose = resolve);
    ws.close();
    await closed;

    const stream = await subscribeSse(s.gateway.url, `access_token=${encodeURIComponent(token)}`);
    assert.equal(stream.ready.mode, "durable");
    await stream.close();
    const queryOnWs = await fetch(
      `${s.gateway.url}/v1/subscribe?access_token=${encodeURIComponent(token)}`,
    );
    await assertProblem(queryOnWs, 401);
  } finally {
    await s.close();
  }
});

Deno.test("required: a new kid is found by fetching the JWKS URL again, at most once per cooldown", async () => {
  const s = await secured({ TASTESYNC_AUTH_JWKS_COOLDOWN: "1s" });
  try {
    const claims = { scope: "publish:CustomerIdentified" };
    assert.equal(await publishStatus(s.gateway, bearer(await s.token(claims))), 202);
    assert.equal(s.jwks.fetches, 1);

    const rotated = await signingKey("ES256", "k2");
    s.jwks.publish(jwksOf(s.signer, rotated));
    const fresh = s.secret(await signToken(rotated, claims));
    const statuses: number[] = [];
    const deadline = Date.now() + 10_000;
    while (statuses.at(-1) !== 202 && Date.now() < deadline) {
      if (statuses.length > 0) await new Promise((r) => setTimeout(r, 50));
      statuses.push(await publishStatus(s.gateway, bearer(fresh)));
    }
    assert.equal(statuses.at(-1), 202, "the rotated key was picked up");
    assert.ok(statuses.length > 1, "refused while the cooldown lasted");
    assert.ok(statuses.slice(0, -1).every((status) => status === 401), String(statuses));
    assert.equal(s.jwks.fetches, 2, `${statuses.length} tries fetched the JWKS once more`);

    const unknown = await signingKey("ES256", "k3");
    const forged = s.secret(await signToken(unknown, claims));
    const flood = await Promise.all(
      Array.from({ length: 20 }, () => publishStatus(s.gateway, bearer(forged))),
    );
    assert.ok(flood.every((status) => status === 401));
    assert.ok(s.jwks.fetches <= 3, `unknown kids fetched the JWKS ${s.jwks.fetches} times`);
  } finally {
    await s.close();
  }
});

Deno.test("required: the same kid under two issuers verifies only with its own issuer's key", async () => {
  // One issuer's JWKS by URL, the other's from a file (the config file, named by TASTESYNC_CONFIG).
  const a = await signingKey("ES256", "shared");
  const b = await signingKey("ES256", "shared");
  const jwksA = serveJwksOf(a);
  const dir = await Deno.makeTempDir({ prefix: "tastesync-issuers-" });
  await Deno.writeTextFile(`${dir}/b.json`, JSON.stringify(jwksOf(b)));
  await Deno.writeTextFile(
    `${dir}/config.yaml`,
    `auth:
  mode: required
  jwt:
    audience: ${TEST_AUDIENCE}
    clock_skew: 0ms
    issuers:
      - {issuer: "${TEST_ISSUER}", jwks_url: "${jwksA.url}"}
      - {issuer: "${OTHER_ISSUER}", jwks_file: ${dir}/b.json}
embedded:
  data_dir: ${dir}/data
`,
  );
  const gateway = await startGateway({
    TASTESYNC_CONFIG: `${dir}/config.yaml`,
    TASTESYNC_LOG_LEVEL: "debug",
  });
  const tokens: string[] = [];
  const sign = async (key: SigningKey, iss: string) => {
    const token = await signToken(key, { iss, scope: "publish:*" });
    tokens.push(token);
    return token;
  };
  try {
    assert.equal(await publishStatus(gateway, bearer(await sign(a, TEST_ISSUER))), 202);
    assert.equal(await publishStatus(gateway, bearer(await sign(b, OTHER_ISSUER))), 202);
    assert.equal(await publishStatus(gateway, bearer(await sign(a, OTHER_ISSUER))), 401);
    assert.equal(await publishStatus(gateway, bearer(await sign(b, TEST_ISSUER))), 401);
  } finally {
    await gateway.stop();
    await jwksA.close();
    await Deno.remove(dir, { recursive: true });
  }
  assertNothingLeaked(gateway.lines, tokens);
});

for (const backend of BACKENDS) {
  Deno.test(`${backend.name}: venue pinning on publish and subscribe; groups need their scope`, async () => {
    const s = await secured(await backend.env());
    try {
      const { gateway, keys } = s;
      const everything = await subscribeWs(gateway.url, "from=earliest", {
        protocols: ["tastesync.v1", `bearer.${keys.analytics}`],
      });
      const pinned = await subscribeWs(gateway.url, "", {
        protocols: ["tastesync.v1", `bearer.${keys["screen-100"]}`],
      });
      const pinnedJwt = await subscribeSse(
        gateway.url,
        "",
        bearer(await s.token({ scope: "subscribe:*", venues: [100] })),
      );

      const foreign = await gateway.post(
        "/v1/identifications",
        atVenue(200, "forbidden"),
        bearer(keys["tablet-100"]),
      );
      assert.match(String((await assertProblem(foreign, 403)).detail), /"200"/);
      assert.equal(
        await publishStatus(gateway, bearer(keys["tablet-100"]), atVenue(100, "own-100")),
        202,
      );
      assert.equal(await publishStatus(gateway, bearer(keys.hq), atVenue(200, "hq-200")), 202);
      assert.equal(await publishStatus(gateway, bearer(keys.hq), atVenue(100, "hq-100")), 202);

      const customers = (frames: { event?: { data: { customer_id: string } } }[]) =>
        frames.map((f) => f.event!.data.customer_id);
      assert.deepEqual(
        customers(await everything.events(3)),
        ["own-100", "hq-200", "hq-100"],
        "the refused event was never written: the first event in the log is the next one",
      );
      assert.deepEqual(customers(await pinned.events(2)), ["own-100", "hq-100"]);
      const streamed = await pinnedJwt.events(2);
      assert.deepEqual(streamed.map((e) => e.data.data.customer_id), ["own-100", "hq-100"]);
      assert.equal(pinned.drain().length, 0, "nothing from venue 200");

      const batch = await gateway.post("/v1/events/batch", {
        events: [100, 200].map((venue) => ({
          event_type: "CustomerIdentified",
          version: "v1",
          data: atVenue(venue, `batch-${venue}`),
        })),
      }, bearer(keys["tablet-100"]));
      assert.equal(batch.status, 200);
      const { results } = await batch.json();
      assert.deepEqual(results.map((r: { status: number }) => r.status), [202, 403]);
      assert.equal(results[1].type, "/docs#problem-forbidden");
      assert.deepEqual(customers(await pinned.events(1)), ["batch-100"]);

      const asForeign = await fetch(`${gateway.url}/v1/stream?venue=200`, {
        headers: bearer(keys["screen-100"]),
      });
      assert.match(String((await assertProblem(asForeign, 403)).detail), /"200"/);
      const own = await subscribeSse(gateway.url, "venue=100", bearer(keys["screen-100"]));
      await own.close();
      const wideForeign = await subscribeSse(gateway.url, "venue=200", bearer(keys.analytics));
      await wideForeign.close();

      const group = (key: string, name: string) =>
        fetch(`${gateway.url}/v1/stream?group=${name}`, { headers: bearer(key) });
      await assertProblem(await group(keys["screen-100"], "analytics-1"), 403);
      await assertProblem(await group(keys.analytics, "kitchen-1"), 403);
      const member = await subscribeSse(gateway.url, "group=analytics-1", bearer(keys.analytics));
      assert.equal(member.ready.group, "analytics-1");
      await Promise.all([everything.close(), pinned.close(), pinnedJwt.close(), member.close()]);
    } finally {
      await s.close();
    }
  });
}

Deno.test("required: an expiring JWT closes its WebSocket with 4401 unless renewed by an auth frame", async () => {
  const s = await secured();
  try {
    const url = s.gateway.url;
    const exp = now() + 3;
    const short = await s.token({ sub: "screen", scope: "subscribe:*", exp });
    const open = (token: string) =>
      subscribeWs(url, "mode=live", { protocols: ["tastesync.v1", `bearer.${token}`] });
    const expiring = await open(short);
    const renewed = await open(short);
    const stolen = await open(short);
    const garbled = await open(short);
    const stream = await subscribeSse(url, "mode=live", bearer(short));
    renewed.send({
      type: "auth",
      token: await s.token({ sub: "screen", scope: "subscribe:*", exp: now() + 3600 }),
    });
    stolen.send({
      type: "auth",
      token: await s.token({ sub: "someone-else", scope: "subscribe:*" }),
    });
    garbled.send({ type: "auth", token: s.secret(mintApiKey()) });

    assert.equal((await stolen.closed).code, 4403);
    assert.equal((await garbled.closed).code, 4401);
    const error = await expiring.next(10_000);
    assert.equal(error.type, "error");
    assert.equal(error.error, "token-expired");
    assert.equal((await expiring.closed).code, 4401);
    assert.ok(Date.now() >= exp * 1000, "not before the token's exp");
    const [ended] = await stream.events(1, 10_000);
    assert.equal(ended.event, "error");
    assert.equal(ended.data.error, "token-expired");

    assert.equal(await publishStatus(s.gateway, bearer(s.keys.hq), atVenue(100, "after")), 202);
    const [event] = await renewed.events(1);
    assert.equal(event.event.data.customer_id, "after", "the renewed socket is still open");
    await Promise.all([renewed.close(), stream.close()]);
  } finally {
    await s.close();
  }
});

Deno.test("required: failed authentications from one address are slowed down, then let through", async () => {
  const s = await secured({
    TASTESYNC_AUTH_FAILURES_THRESHOLD: "3",
    TASTESYNC_AUTH_FAILURES_MAX_DELAY: "1s",
  });
  try {
    for (let i = 0; i < 4; i++) {
      assert.equal(await publishStatus(s.gateway, bearer(s.secret(mintApiKey()))), 401);
    }
    const slowed = await s.gateway.post("/v1/identifications", atVenue(100), bearer(s.keys.hq));
    await assertProblem(slowed, 429);
    assert.equal(slowed.headers.get("retry-after"), "1");
    const deadline = Date.now() + 5000;
    let status = 429;
    while (status === 429 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 50));
      status = await publishStatus(s.gateway, bearer(s.keys.hq));
    }
    assert.equal(status, 202, "a good key passes once the wait is over");
  } finally {
    await s.close();
  }
});

Deno.test("required: metrics.listen serves /metrics without auth; the API port still needs admin", async () => {
  const s = await secured({ TASTESYNC_METRICS_LISTEN: "127.0.0.1:0" });
  try {
    const listening = () => s.gateway.lines.find((l) => l.includes('"Metrics listening"'));
    await waitUntil(() => listening() !== undefined, "the metrics server listens");
    const { port } = JSON.parse(listening()!);
    const res = await fetch(`http://127.0.0.1:${port}/metrics`);
    assert.equal(res.status, 200);
    assert.match(await res.text(), /tastesync_auth_failures_total/);
    const other = await fetch(`http://127.0.0.1:${port}/v1/stream`);
    await assertProblem(other, 404);
    await assertProblem(await fetch(`${s.gateway.url}/metrics`), 401);
  } finally {
    await s.close();
  }
});

Deno.test("auth.mode none refuses a non-loopback host unless auth.allow_anonymous is set", async () => {
  const dataDir = await Deno.makeTempDir({ prefix: "tastesync-anon-" });
  try {
    await assert.rejects(
      startGateway({ TASTESYNC_HTTP_HOST: "0.0.0.0", TASTESYNC_DATA_DIR: dataDir }, {
        ready: false,
      }),
      (e: Error) =>
        /exited with 2/.test(e.message) && /auth\.allow_anonymous: true/.test(e.message) &&
        /http\.host/.test(e.message),
    );
    const open = await startGateway({
      TASTESYNC_HTTP_HOST: "0.0.0.0",
      TASTESYNC_AUTH_ALLOW_ANONYMOUS: "true",
      TASTESYNC_DATA_DIR: dataDir,
    });
    try {
      const res = await open.post("/v1/identifications", atVenue(100));
      assert.equal(res.status, 202, "anonymous callers may do everything");
      await res.body?.cancel();
    } finally {
      await open.stop();
    }
  } finally {
    await Deno.remove(dataDir, { recursive: true });
  }
});

Deno.test("required: tokens in the header and the WebSocket subprotocol never reach the exported traces", async () => {
  const bodies: string[] = [];
  const { promise: exported, resolve } = Promise.withResolvers<void>();
  const sink = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, async (req) => {
    const body = await req.text();
    bodies.push(body);
    if (bodies.join("").includes("/v1/subscribe")) resolve();
    return Response.json({});
  });
  const s = await secured({
    OTEL_DENO: "true",
    OTEL_EXPORTER_OTLP_PROTOCOL: "http/json",
    OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${sink.addr.port}`,
    OTEL_BSP_SCHEDULE_DELAY: "100",
    OTEL_DENO_CONSOLE: "ignore",
  });
  try {
    const token = await s.token({ scope: "subscribe:* publish:*" });
    assert.equal(await publishStatus(s.gateway, bearer(token)), 202);
    assert.equal(await publishStatus(s.gateway, bearer(s.keys.hq)), 202);
    const socket = await subscribeWs(s.gateway.url, "", {
      protocols: ["tastesync.v1", `bearer.${token}`],
    });
    await socket.close();
    await exported;
    const traces = bodies.join("\n");
    assert.match(traces, /\/v1\/identifications/, "the requests were traced");
    for (const secret of [token, s.keys.hq]) {
      assert.ok(!traces.includes(secret.split(".").at(-1)!), "a token is in a trace");
    }
  } finally {
    await s.close();
    await sink.shutdown();
  }
});

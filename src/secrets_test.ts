import assert from "node:assert/strict";
import { nkeys } from "@nats-io/transport-node";
import { loginOptions } from "./bus/nats_bus.ts";
import { parseConfig } from "./config.ts";
import { ConfigError } from "./errors.ts";
import { httpsCertificate, kafkaSecurity, natsSecurity } from "./secrets.ts";

/** Runs `fn` with a temporary folder holding `files` (name -> text). */
async function withFiles(
  files: Record<string, string>,
  fn: (path: (name: string) => string) => void | Promise<void>,
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "tastesync-secrets-" });
  try {
    for (const [name, text] of Object.entries(files)) {
      await Deno.writeTextFile(`${dir}/${name}`, text);
    }
    await fn((name) => `${dir}/${name}`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** Asserts that `fn` throws a {@linkcode ConfigError} about setting `key`. */
function assertSetting(fn: () => unknown, key: string): void {
  assert.throws(
    fn,
    (e) => e instanceof ConfigError && e.key === key,
    `expected an error about ${key}`,
  );
}

Deno.test("Kafka: no login and plain TCP by default; SCRAM-SHA-512 once a user is set", async () => {
  assert.deepEqual(kafkaSecurity(parseConfig(undefined, {})), { sasl: undefined, tls: undefined });
  await withFiles({ password: "s3cret\n", "ca.pem": "-----BEGIN CERTIFICATE-----\n" }, (path) => {
    const config = parseConfig(undefined, {
      TASTESYNC_KAFKA_SASL_USERNAME: "gateway",
      TASTESYNC_KAFKA_SASL_PASSWORD_FILE: path("password"),
      TASTESYNC_KAFKA_SSL_CA_FILE: path("ca.pem"),
    });
    assert.deepEqual(kafkaSecurity(config), {
      sasl: { mechanism: "SCRAM-SHA-512", username: "gateway", password: "s3cret" },
      tls: { ca: "-----BEGIN CERTIFICATE-----\n" },
    });
  });
  const plain = parseConfig(undefined, {
    TASTESYNC_KAFKA_SASL_MECHANISM: "PLAIN",
    TASTESYNC_KAFKA_SASL_USERNAME: "gateway",
    TASTESYNC_KAFKA_SASL_PASSWORD: "inline",
    TASTESYNC_KAFKA_SSL_ENABLED: "true",
  });
  assert.deepEqual(kafkaSecurity(plain), {
    sasl: { mechanism: "PLAIN", username: "gateway", password: "inline" },
    tls: {},
  });
  const off = parseConfig(undefined, { TASTESYNC_KAFKA_SSL_ENABLED: "false" });
  assert.equal(kafkaSecurity(off).tls, undefined);
});

Deno.test("Kafka: a user needs one password, a password needs a user", () => {
  assertSetting(
    () => parseConfig(undefined, { TASTESYNC_KAFKA_SASL_USERNAME: "gateway" }),
    "kafka.sasl.password",
  );
  assertSetting(
    () => parseConfig(undefined, { TASTESYNC_KAFKA_SASL_PASSWORD: "s3cret" }),
    "kafka.sasl.username",
  );
  assertSetting(
    () =>
      parseConfig(
        "kafka:\n  sasl:\n    username: g\n    password: a\n    password_file: /run/b\n",
        {},
      ),
    "kafka.sasl.password_file",
  );
  assertSetting(
    () => parseConfig(undefined, { TASTESYNC_KAFKA_SASL_MECHANISM: "GSSAPI" }),
    "kafka.sasl.mechanism (TASTESYNC_KAFKA_SASL_MECHANISM)",
  );
});

Deno.test("a secret file that is missing or empty stops start-up naming its setting", async () => {
  await withFiles({ empty: "\n" }, (path) => {
    const env = { TASTESYNC_KAFKA_SASL_USERNAME: "gateway" };
    assertSetting(
      () =>
        kafkaSecurity(
          parseConfig(undefined, { ...env, TASTESYNC_KAFKA_SASL_PASSWORD_FILE: path("missing") }),
        ),
      "kafka.sasl.password_file",
    );
    assertSetting(
      () =>
        kafkaSecurity(
          parseConfig(undefined, { ...env, TASTESYNC_KAFKA_SASL_PASSWORD_FILE: path("empty") }),
        ),
      "kafka.sasl.password_file",
    );
    assertSetting(
      () => natsSecurity(parseConfig(undefined, { TASTESYNC_NATS_TLS_CA_FILE: path("missing") })),
      "nats.tls.ca_file",
    );
  });
});

Deno.test("NATS: a user and password, a token or a credentials file, and TLS", async () => {
  assert.deepEqual(natsSecurity(parseConfig(undefined, {})), { auth: undefined, tls: undefined });
  const user = natsSecurity(parseConfig(undefined, {
    TASTESYNC_NATS_USER: "gateway",
    TASTESYNC_NATS_PASSWORD: "s3cret",
    TASTESYNC_NATS_TLS_ENABLED: "true",
  }));
  assert.deepEqual(user, { auth: { user: "gateway", password: "s3cret" }, tls: {} });
  assert.deepEqual(loginOptions(user.auth), { user: "gateway", pass: "s3cret" });

  const seed = nkeys.createUser();
  const creds = `-----BEGIN NATS USER JWT-----\neyJ.e30.c2ln\n------END NATS USER JWT------\n\n` +
    `-----BEGIN USER NKEY SEED-----\n${new TextDecoder().decode(seed.getSeed())}\n` +
    `------END USER NKEY SEED------\n`;
  await withFiles({ token: "t0ken\n", "user.creds": creds }, (path) => {
    const token = natsSecurity(
      parseConfig(undefined, { TASTESYNC_NATS_TOKEN_FILE: path("token") }),
    );
    assert.deepEqual(token.auth, { token: "t0ken" });
    assert.deepEqual(loginOptions(token.auth), { token: "t0ken" });

    const file = natsSecurity(
      parseConfig(undefined, { TASTESYNC_NATS_CREDS_FILE: path("user.creds") }),
    );
    assert.deepEqual(file.auth, { creds });
    // The server's nonce is signed with the file's seed, and its JWT goes along.
    const signed = loginOptions(file.auth).authenticator as (nonce?: string) => {
      jwt: string;
      nkey: string;
      sig: string;
    };
    const { jwt, nkey, sig } = signed("nonce-1");
    assert.equal(jwt, "eyJ.e30.c2ln");
    assert.equal(nkey, seed.getPublicKey());
    assert.ok(seed.verify(new TextEncoder().encode("nonce-1"), nkeys.decode(sig)));
  });
});

Deno.test("NATS: one way to log in, and a user needs its password", () => {
  assertSetting(
    () =>
      parseConfig(undefined, {
        TASTESYNC_NATS_USER: "gateway",
        TASTESYNC_NATS_PASSWORD: "p",
        TASTESYNC_NATS_TOKEN: "t",
      }),
    "nats",
  );
  assertSetting(
    () => parseConfig(undefined, { TASTESYNC_NATS_TOKEN: "t", TASTESYNC_NATS_CREDS_FILE: "/x" }),
    "nats",
  );
  assertSetting(() => parseConfig(undefined, { TASTESYNC_NATS_USER: "gateway" }), "nats.password");
  assertSetting(
    () =>
      parseConfig(undefined, { TASTESYNC_NATS_TOKEN: "t", TASTESYNC_NATS_TOKEN_FILE: "/run/t" }),
    "nats.token_file (TASTESYNC_NATS_TOKEN_FILE)",
  );
});

Deno.test("HTTPS: a certificate and its key, both or neither", async () => {
  assert.equal(httpsCertificate(parseConfig(undefined, {})), undefined);
  await withFiles({ "cert.pem": "CERT", "key.pem": "KEY" }, (path) => {
    const both = parseConfig(undefined, {
      TASTESYNC_HTTP_TLS_CERT_FILE: path("cert.pem"),
      TASTESYNC_HTTP_TLS_KEY_FILE: path("key.pem"),
    });
    assert.deepEqual(httpsCertificate(both), { cert: "CERT", key: "KEY" });
    assertSetting(
      () => parseConfig(undefined, { TASTESYNC_HTTP_TLS_CERT_FILE: path("cert.pem") }),
      "http.tls",
    );
    const unreadable = parseConfig(undefined, {
      TASTESYNC_HTTP_TLS_CERT_FILE: path("cert.pem"),
      TASTESYNC_HTTP_TLS_KEY_FILE: path("missing.pem"),
    });
    assertSetting(() => httpsCertificate(unreadable), "http.tls.key_file");
  });
});

import assert from "node:assert/strict";
import { ConfigError } from "../errors.ts";
import { API_KEY_PREFIX, ApiKeyStore, hashApiKey, mintApiKey } from "./api_keys.ts";
import { AuthenticationError } from "./errors.ts";
import { keyCommand } from "./key_command.ts";

Deno.test("minted keys are prefixed, 256 random bits, and never repeat", () => {
  const keys = new Set(Array.from({ length: 100 }, mintApiKey));
  assert.equal(keys.size, 100);
  for (const key of keys) {
    assert.ok(key.startsWith(API_KEY_PREFIX));
    assert.equal(key.length, API_KEY_PREFIX.length + 43, "32 bytes in base64url");
    assert.match(hashApiKey(key), /^[0-9a-f]{64}$/);
  }
});

Deno.test("a YAML or JSON keys file gives each key its principal; other keys are refused", () => {
  const tablet = mintApiKey();
  const service = mintApiKey();
  const yaml = ApiKeyStore.parse(
    `- id: tablet-12
  sha256: ${hashApiKey(tablet)}
  scopes: [publish:CustomerIdentified]
  venues: [100, "101"]
- {id: analytics, sha256: ${hashApiKey(service)}, scopes: "subscribe:* group:analytics-*"}
`,
    "keys.yaml",
  );
  const p = yaml.verify(tablet);
  assert.equal(p.id, "tablet-12");
  assert.equal(p.kind, "api_key");
  assert.deepEqual([...p.scopes], ["publish:CustomerIdentified"]);
  assert.deepEqual([...p.venues!], ["100", "101"]);
  const wide = yaml.verify(service);
  assert.deepEqual([...wide.scopes], ["subscribe:*", "group:analytics-*"]);
  assert.equal(wide.venues, undefined);
  assert.throws(
    () => yaml.verify(mintApiKey()),
    (e) => e instanceof AuthenticationError && e.reason === "unknown_key",
  );
  assert.throws(() => yaml.verify(tablet.slice(0, -1)), AuthenticationError);
  const json = ApiKeyStore.parse(
    JSON.stringify([{ id: "t", sha256: hashApiKey(tablet), scopes: ["admin"] }]),
    "keys.json",
  );
  assert.equal(json.verify(tablet).id, "t");
});

Deno.test("a keys file with a bad entry, a repeated id or a repeated hash is refused", () => {
  const sha = hashApiKey(mintApiKey());
  const bad = [
    `- {id: a, sha256: ${sha}, scopes: [publish]}`,
    `- {id: a, sha256: nothex, scopes: []}`,
    `- {id: a, sha256: ${sha}, scopes: [], key: plain}`,
    `- {id: a, sha256: ${sha}, scopes: []}\n- {id: a, sha256: ${hashApiKey("x")}, scopes: []}`,
    `- {id: a, sha256: ${sha}, scopes: []}\n- {id: b, sha256: ${sha}, scopes: []}`,
    `id: a`,
    `[`,
  ];
  for (const text of bad) {
    assert.throws(
      () => ApiKeyStore.parse(text, "keys.yaml"),
      (e) => e instanceof ConfigError && e.key === "auth.api_keys_file",
      text,
    );
  }
  assert.throws(() => ApiKeyStore.load("/nonexistent/keys.yaml"), ConfigError);
});

Deno.test("deno task key prints a key and the entry that accepts it, with its scopes and venues", () => {
  const result = keyCommand([
    "--id",
    "tablet-12",
    "--scopes",
    "publish:CustomerIdentified",
    "--venues",
    "100,101",
  ]);
  assert.ok(result.ok);
  assert.match(result.entry, /^- \{/);
  const store = ApiKeyStore.parse(result.entry, "printed entry");
  const p = store.verify(result.key);
  assert.equal(p.id, "tablet-12");
  assert.deepEqual([...p.venues!], ["100", "101"]);
  assert.ok(!result.entry.includes(result.key), "the entry holds only the hash");
  assert.ok(!keyCommand(["--id", "x"]).ok, "scopes are required");
  assert.ok(!keyCommand(["--id", "x", "--scopes", "write"]).ok, "scopes are checked");
  assert.ok(!keyCommand(["--id", "x", "--scopes", "admin", "--what"]).ok);
});

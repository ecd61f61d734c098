import assert from "node:assert/strict";
import { createLocalJWKSet, type JWTVerifyGetKey } from "jose";
import {
  hs256WithPublicKey,
  jwksOf,
  signingKey,
  signToken,
  TEST_AUDIENCE,
  TEST_ISSUER,
  unsignedToken,
} from "../../testing/tokens.ts";
import { AuthenticationError, type AuthFailureReason } from "./errors.ts";
import { JwtVerifier } from "./jwt.ts";
import { VerifiedTokenCache } from "./token_cache.ts";

const OTHER_ISSUER = "https://other-issuer.test/";
const key = await signingKey("ES256", "k1");
const rsa = await signingKey("RS256", "k-rsa");
const eddsa = await signingKey("EdDSA", "k-ed");
const now = () => Math.floor(Date.now() / 1000);

function verifier(
  issuers: [string, JWTVerifyGetKey][] = [[
    TEST_ISSUER,
    createLocalJWKSet(jwksOf(key, rsa, eddsa)),
  ]],
  clockSkewMs = 30_000,
): JwtVerifier {
  return new JwtVerifier({
    issuers: new Map(issuers),
    audience: TEST_AUDIENCE,
    algorithms: ["RS256", "ES256", "EdDSA"],
    clockSkewMs,
  });
}

async function refused(v: JwtVerifier, token: string, reason: AuthFailureReason): Promise<void> {
  await assert.rejects(
    v.verify(token),
    (e) => e instanceof AuthenticationError && e.reason === reason,
    `expected ${reason}`,
  );
}

Deno.test("a valid token of each allowed algorithm names its principal, scopes and venues", async () => {
  const v = verifier();
  for (const k of [key, rsa, eddsa]) {
    const token = await signToken(k, {
      sub: `user-${k.alg}`,
      scope: "publish:CustomerIdentified  subscribe:*",
      venues: [100, "101"],
    });
    const p = await v.verify(token);
    assert.equal(p.id, `user-${k.alg}`);
    assert.equal(p.kind, "jwt");
    assert.deepEqual([...p.scopes], ["publish:CustomerIdentified", "subscribe:*"]);
    assert.deepEqual([...p.venues!], ["100", "101"]);
  }
  const wide = await v.verify(await signToken(key, {}));
  assert.equal(wide.venues, undefined, "no venues claim: organisation-wide");
  assert.equal(wide.scopes.size, 0);
});

Deno.test("expiresAt is exp plus the allowed skew", async () => {
  const exp = now() + 600;
  const p = await verifier(undefined, 5000).verify(await signToken(key, { exp }));
  assert.equal(p.expiresAt, exp * 1000 + 5000);
});

Deno.test("missing, malformed, expired, not yet valid, wrong issuer and wrong audience are refused", async () => {
  const v = verifier(undefined, 30_000);
  await refused(v, "not-a-jwt", "malformed");
  await refused(v, "a.b.c", "malformed");
  await refused(v, await signToken(key, { exp: now() - 31 }), "expired");
  await refused(v, await signToken(key, { nbf: now() + 31 }), "not_yet_valid");
  await refused(v, await signToken(key, { iss: OTHER_ISSUER }), "issuer");
  await refused(v, await signToken(key, { iss: undefined }), "issuer");
  await refused(v, await signToken(key, { aud: "someone-else" }), "audience");
  await refused(v, await signToken(key, { exp: undefined }), "claims");
  await refused(v, await signToken(key, { sub: undefined }), "claims");
  await refused(v, await signToken(key, { scope: ["admin"] as unknown as string }), "claims");
  await refused(v, await signToken(key, { venues: "100" }), "claims");
  await refused(v, await signToken(key, { venues: [{ id: 1 }] }), "claims");
});

Deno.test("exp and nbf are checked with the allowed skew, never more than 30 s", async () => {
  const v = verifier(undefined, 30_000);
  assert.ok(await v.verify(await signToken(key, { exp: now() - 20 })));
  assert.ok(await v.verify(await signToken(key, { nbf: now() + 20 })));
  const strict = verifier(undefined, 0);
  await refused(strict, await signToken(key, { exp: now() - 2 }), "expired");
  const capped = verifier(undefined, 3_600_000);
  await refused(capped, await signToken(key, { exp: now() - 60 }), "expired");
});

Deno.test("alg none, HS256 signed with the public key, and an unknown kid are refused", async () => {
  const v = verifier();
  await refused(v, unsignedToken({}, key.kid), "algorithm");
  await refused(v, await hs256WithPublicKey(key), "algorithm");
  const stranger = await signingKey("ES256", "k-unknown");
  await refused(v, await signToken(stranger), "unknown_kid");
  const impostor = { ...await signingKey("ES256"), kid: key.kid };
  await refused(v, await signToken(impostor), "signature");
});

Deno.test("an algorithm outside the allowlist is refused even with the right key", async () => {
  const es384 = await signingKey("ES384", "k-384");
  const v = verifier([[TEST_ISSUER, createLocalJWKSet(jwksOf(es384))]]);
  await refused(v, await signToken(es384), "algorithm");
});

Deno.test("the same kid under two issuers: each issuer's token verifies only with its own key", async () => {
  const a = await signingKey("ES256", "shared");
  const b = await signingKey("ES256", "shared");
  const v = verifier([
    [TEST_ISSUER, createLocalJWKSet(jwksOf(a))],
    [OTHER_ISSUER, createLocalJWKSet(jwksOf(b))],
  ]);
  assert.equal((await v.verify(await signToken(a, { sub: "from-a" }))).id, "from-a");
  assert.equal(
    (await v.verify(await signToken(b, { iss: OTHER_ISSUER, sub: "from-b" }))).id,
    "from-b",
  );
  await refused(v, await signToken(a, { iss: OTHER_ISSUER }), "signature");
  await refused(v, await signToken(b), "signature");
});

Deno.test("a verified token is not verified again until it expires", async () => {
  let lookups = 0;
  const local = createLocalJWKSet(jwksOf(key));
  const counting: JWTVerifyGetKey = (header, token) => {
    lookups++;
    return local(header, token);
  };
  let clock = Date.now();
  const v = new JwtVerifier({
    issuers: new Map([[TEST_ISSUER, counting]]),
    audience: TEST_AUDIENCE,
    algorithms: ["ES256"],
    clockSkewMs: 0,
    cache: new VerifiedTokenCache({ now: () => clock }),
  });
  const token = await signToken(key, { exp: now() + 60 });
  const first = await v.verify(token);
  assert.equal(await v.verify(token), first);
  assert.equal(lookups, 1);
  clock += 61_000;
  await v.verify(token);
  assert.equal(lookups, 2, "past its exp the cache lets go and the token is verified again");
});

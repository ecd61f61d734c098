import assert from "node:assert/strict";
import type { Authenticator } from "./authenticator.ts";
import { ConnectionCredential } from "./connection_credential.ts";
import { AuthenticationError } from "./errors.ts";
import type { Principal } from "./principal.ts";

const user = (expiresAt: number, id = "user-1", venues?: string[]): Principal => ({
  id,
  kind: "jwt",
  scopes: new Set(["subscribe:*"]),
  expiresAt,
  ...(venues ? { venues: new Set(venues) } : {}),
});

/** Hands out the principal registered for each token. */
function authenticator(tokens: Record<string, Principal>): Authenticator {
  return {
    authenticate: (token) =>
      token in tokens
        ? Promise.resolve(tokens[token])
        : Promise.reject(new AuthenticationError("signature", "bad")),
  };
}

function watch(principal: Principal, tokens: Record<string, Principal> = {}) {
  const { promise: expired, resolve } = Promise.withResolvers<number>();
  const credential = new ConnectionCredential(principal, {
    authenticator: authenticator(tokens),
    permits: (p) =>
      p.scopes.has("subscribe:*") ? undefined : { reason: "scope", detail: "Needs subscribe:*" },
    onExpired: () => resolve(Date.now()),
  });
  return { credential, expired };
}

Deno.test("the connection is ended when the credential expires", async () => {
  const at = Date.now() + 50;
  const { expired } = watch(user(at));
  assert.ok(await expired >= at);
});

Deno.test("a fresh token for the same principal moves the expiry", async () => {
  const first = Date.now() + 100;
  const later = Date.now() + 400;
  const { credential, expired } = watch(user(first), { fresh: user(later) });
  assert.deepEqual(await credential.renew("fresh"), { ok: true });
  assert.equal(credential.principal.expiresAt, later);
  assert.ok(await expired >= later);
});

Deno.test("a renewal that does not authenticate, names another principal or other venues, or lacks the scope is refused", async () => {
  const at = Date.now() + 60_000;
  const { credential } = watch(user(at, "user-1", ["100"]), {
    other: user(at + 1, "user-2", ["100"]),
    widened: user(at + 1, "user-1", ["100", "200"]),
    scopeless: { ...user(at + 1, "user-1", ["100"]), scopes: new Set() },
  });
  const bad = await credential.renew("nope");
  assert.ok(!bad.ok && !bad.forbidden && bad.reason === "signature");
  for (const token of ["other", "widened", "scopeless"]) {
    const refused = await credential.renew(token);
    assert.ok(!refused.ok && refused.forbidden, token);
  }
  assert.equal(credential.principal.expiresAt, at, "the credential is unchanged");
  credential.stop();
});

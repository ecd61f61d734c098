/**
 * Real tokens for tests and the benchmark: signing keys made with `jose`,
 * their JWKS, signed JWTs (and the forged kinds a gateway must refuse), a
 * JWKS served over HTTP, and API keys files.
 *
 * @module
 */
import {
  base64url,
  exportJWK,
  generateKeyPair,
  type GenerateKeyPairResult,
  type JSONWebKeySet,
  type JWK,
  type JWTPayload,
  SignJWT,
} from "jose";
import { hashApiKey, mintApiKey } from "../src/auth/api_keys.ts";

/** The issuer of the tests' tokens. */
export const TEST_ISSUER = "https://issuer.test/";
/** The audience of the tests' gateways. */
export const TEST_AUDIENCE = "tastesync-test";

/** A private key with its public JWK. */
export interface SigningKey {
  /** Its `kid`. */
  kid: string;
  /** Its algorithm, e.g. `ES256`. */
  alg: string;
  /** Signs tokens. */
  privateKey: GenerateKeyPairResult["privateKey"];
  /** The public half, as published in a JWKS. */
  publicJwk: JWK;
}

/** A new key pair for `alg` named `kid`. */
export async function signingKey(
  alg = "ES256",
  kid: string = crypto.randomUUID(),
): Promise<SigningKey> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  return {
    kid,
    alg,
    privateKey,
    publicJwk: { ...await exportJWK(publicKey), kid, alg, use: "sig" },
  };
}

/** The JWKS publishing `keys`. */
export function jwksOf(...keys: SigningKey[]): JSONWebKeySet {
  return { keys: keys.map((k) => k.publicJwk) };
}

/** Claims of a test token: a subject, and `iss`, `aud`, `iat`, `exp` (1 h) unless overridden. */
export type TestClaims = JWTPayload & { scope?: string; venues?: unknown };

/** A JWT signed with `key`; `undefined` claims are left out. */
export function signToken(key: SigningKey, claims: TestClaims = {}): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  const payload = Object.fromEntries(
    Object.entries({
      iss: TEST_ISSUER,
      aud: TEST_AUDIENCE,
      sub: "user-1",
      iat: now,
      exp: now + 3600,
      ...claims,
    }).filter(([, v]) => v !== undefined),
  );
  return new SignJWT(payload).setProtectedHeader({ alg: key.alg, kid: key.kid, typ: "JWT" })
    .sign(key.privateKey);
}

/** An unsigned token (`alg: none`) with `claims`. */
export function unsignedToken(claims: TestClaims, kid?: string): string {
  const now = Math.floor(Date.now() / 1000);
  const part = (value: unknown) => base64url.encode(JSON.stringify(value));
  return `${part({ alg: "none", typ: "JWT", ...(kid ? { kid } : {}) })}.${
    part({ iss: TEST_ISSUER, aud: TEST_AUDIENCE, sub: "user-1", exp: now + 3600, ...claims })
  }.`;
}

/**
 * The classic algorithm-confusion forgery: an HS256 token whose HMAC secret
 * is the issuer's public key (as its JWK JSON), with that key's `kid`.
 */
export async function hs256WithPublicKey(
  key: SigningKey,
  claims: TestClaims = {},
): Promise<string> {
  const secret = new TextEncoder().encode(JSON.stringify(key.publicJwk));
  const now = Math.floor(Date.now() / 1000);
  return await new SignJWT({
    iss: TEST_ISSUER,
    aud: TEST_AUDIENCE,
    sub: "user-1",
    exp: now + 3600,
    ...claims,
  }).setProtectedHeader({ alg: "HS256", kid: key.kid }).sign(secret);
}

/** A JWKS served over HTTP by the test process. */
export interface JwksServer {
  /** The JWKS URL. */
  url: string;
  /** Replaces what the server publishes. */
  publish(jwks: JSONWebKeySet): void;
  /** How many times the JWKS was fetched. */
  readonly fetches: number;
  /** Stops the server. */
  close(): Promise<void>;
}

/** Serves `jwks` at `http://127.0.0.1:<port>/jwks.json`. */
export function serveJwks(jwks: JSONWebKeySet): JwksServer {
  let current = jwks;
  let fetches = 0;
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, () => {
    fetches++;
    return Response.json(current);
  });
  return {
    url: `http://127.0.0.1:${server.addr.port}/jwks.json`,
    publish: (next) => void (current = next),
    get fetches() {
      return fetches;
    },
    close: () => server.shutdown(),
  };
}

/**
 * Writes an API keys file (YAML) with one entry per `keys` item and returns
 * its path and the minted keys by id.
 */
export async function apiKeysFile(
  keys: { id: string; scopes: string[]; venues?: (string | number)[] }[],
): Promise<{ path: string; keys: Record<string, string> }> {
  const minted: Record<string, string> = {};
  const lines = keys.map(({ id, scopes, venues }) => {
    const key = mintApiKey();
    minted[id] = key;
    return `- ${
      JSON.stringify({ id, sha256: hashApiKey(key), scopes, ...(venues ? { venues } : {}) })
    }`;
  });
  const path = await Deno.makeTempFile({ prefix: "tastesync-keys-", suffix: ".yaml" });
  await Deno.writeTextFile(path, lines.join("\n") + "\n");
  return { path, keys: minted };
}

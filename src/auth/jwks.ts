/**
 * Where a JWT issuer's public keys come from: a JWKS file read at start-up,
 * or a JWKS URL fetched when first needed, kept for jose's cache lifetime,
 * and fetched again for an unknown `kid` at most once per cooldown. Each
 * issuer has its own key set, so a key is found by issuer and `kid` together,
 * never by `kid` alone.
 *
 * @module
 */
import { createLocalJWKSet, createRemoteJWKSet, errors, type JSONWebKeySet } from "jose";
import type { JWTVerifyGetKey } from "jose";
import { ConfigError } from "../errors.ts";

/** Longest a JWKS fetch may take, in ms. */
export const JWKS_FETCH_TIMEOUT_MS = 5000;
/** How long fetched keys are used before the JWKS is fetched again, in ms. */
export const JWKS_MAX_AGE_MS = 10 * 60_000;

/** The issuer's keys could not be fetched; the token may verify later. */
export class JwksUnavailableError extends Error {
  /** The keys at `url` could not be fetched; `cause` says why. */
  constructor(url: string, options?: ErrorOptions) {
    super(`The signing keys at ${url} could not be fetched`, options);
    this.name = "JwksUnavailableError";
  }
}

/** Where one issuer publishes its keys: exactly one of the two. */
export interface JwksSource {
  /** A JWKS document on disk. */
  jwks_file?: string;
  /** A JWKS document over HTTP(S). */
  jwks_url?: string;
}

/**
 * The key resolver of `source`. A URL is fetched again for an unknown `kid`
 * at most once per `cooldownMs`; its fetch failures become
 * {@linkcode JwksUnavailableError}.
 *
 * @throws {ConfigError} when the file cannot be read or is not a JWKS.
 */
export function jwksKeys(source: JwksSource, cooldownMs: number): JWTVerifyGetKey {
  if (source.jwks_file !== undefined) return readJwksFile(source.jwks_file);
  const url = source.jwks_url!;
  const remote = createRemoteJWKSet(new URL(url), {
    cooldownDuration: cooldownMs,
    cacheMaxAge: JWKS_MAX_AGE_MS,
    timeoutDuration: JWKS_FETCH_TIMEOUT_MS,
  });
  return async (header, token) => {
    try {
      return await remote(header, token);
    } catch (error) {
      if (
        error instanceof errors.JWKSNoMatchingKey ||
        error instanceof errors.JWKSMultipleMatchingKeys
      ) {
        throw error;
      }
      throw new JwksUnavailableError(url, { cause: error });
    }
  };
}

function readJwksFile(path: string): JWTVerifyGetKey {
  let jwks: JSONWebKeySet;
  try {
    jwks = JSON.parse(Deno.readTextFileSync(path));
    return createLocalJWKSet(jwks);
  } catch (error) {
    throw new ConfigError("auth.jwt.jwks_file", `${path} is not a readable JWKS document`, {
      cause: error,
    });
  }
}

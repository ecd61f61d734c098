/**
 * Turns a bearer token into a principal: an API key (it starts with
 * `tsk_`) against the keys file, anything else as a JWT against the trusted
 * issuers. Built from the `auth` settings.
 *
 * @module
 */
import type { Config } from "../config.ts";
import { API_KEY_PREFIX, ApiKeyStore } from "./api_keys.ts";
import { AuthenticationError } from "./errors.ts";
import { jwksKeys } from "./jwks.ts";
import { JwtVerifier } from "./jwt.ts";
import type { Principal } from "./principal.ts";

/** Verifies bearer tokens. */
export interface Authenticator {
  /**
   * The principal `token` names.
   *
   * @throws {AuthenticationError} when it does not authenticate.
   */
  authenticate(token: string): Promise<Principal>;
}

/** An {@linkcode Authenticator} over API keys, JWTs, or both. */
export class CredentialVerifier implements Authenticator {
  readonly #keys?: ApiKeyStore;
  readonly #jwt?: JwtVerifier;

  /** A verifier of the API keys in `keys` and the JWTs `jwt` accepts (either may be absent). */
  constructor(keys?: ApiKeyStore, jwt?: JwtVerifier) {
    this.#keys = keys;
    this.#jwt = jwt;
  }

  /** The principal `token` names. */
  authenticate(token: string): Promise<Principal> {
    if (token.startsWith(API_KEY_PREFIX)) {
      if (!this.#keys) {
        return Promise.reject(new AuthenticationError("unknown_key", "API keys are not accepted"));
      }
      try {
        return Promise.resolve(this.#keys.verify(token));
      } catch (error) {
        return Promise.reject(error);
      }
    }
    if (!this.#jwt) {
      return Promise.reject(new AuthenticationError("issuer", "JWTs are not accepted"));
    }
    return this.#jwt.verify(token);
  }
}

/**
 * The verifier the `auth` settings describe: reads the API keys file and the
 * JWKS files now; JWKS URLs are fetched when first needed.
 *
 * @throws {ConfigError} when a file cannot be read or is not valid.
 */
export function createAuthenticator(settings: Config["auth"]): CredentialVerifier {
  const keys = settings.api_keys_file === undefined
    ? undefined
    : ApiKeyStore.load(settings.api_keys_file);
  const { jwt } = settings;
  const sources = [...(jwt.issuer ? [{ ...jwt, issuer: jwt.issuer }] : []), ...jwt.issuers];
  const issuers = new Map(
    sources.map((source) => [source.issuer, jwksKeys(source, jwt.jwks_cooldown)]),
  );
  const verifier = issuers.size === 0 ? undefined : new JwtVerifier({
    issuers,
    audience: jwt.audience!,
    algorithms: jwt.algorithms,
    clockSkewMs: jwt.clock_skew,
  });
  return new CredentialVerifier(keys, verifier);
}

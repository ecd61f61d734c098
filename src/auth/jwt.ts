/**
 * JWT principals, verified with `jose`: a trusted issuer's signature with an
 * allowed asymmetric algorithm, `iss`, `aud`, `exp` and `nbf` (within the
 * allowed clock skew), and a `sub`. Permissions come from the `scope` claim
 * (space-separated) and the optional `venues` claim.
 *
 * @module
 */
import { decodeJwt, errors, type JWTPayload, jwtVerify, type JWTVerifyGetKey } from "jose";
import { AuthenticationError, type AuthFailureReason } from "./errors.ts";
import { JwksUnavailableError } from "./jwks.ts";
import type { Principal } from "./principal.ts";
import { VerifiedTokenCache } from "./token_cache.ts";

/** Most clock skew allowed between the issuer and the gateway on `exp` and `nbf`, in ms. */
export const MAX_CLOCK_SKEW_MS = 30_000;

/** Options of {@linkcode JwtVerifier}. */
export interface JwtVerifierOptions {
  /** Each trusted issuer (`iss`) and the resolver of its keys. */
  issuers: ReadonlyMap<string, JWTVerifyGetKey>;
  /** The `aud` every token must name. */
  audience: string;
  /** Signature algorithms accepted. */
  algorithms: readonly string[];
  /** Clock skew allowed on `exp` and `nbf`, in ms. @default {MAX_CLOCK_SKEW_MS} */
  clockSkewMs?: number;
  /** Where verified tokens are kept until they expire. */
  cache?: VerifiedTokenCache;
}

/** How jose's error codes map to refusal reasons. */
const REASONS: Readonly<Record<string, AuthFailureReason>> = {
  ERR_JWT_EXPIRED: "expired",
  ERR_JOSE_ALG_NOT_ALLOWED: "algorithm",
  ERR_JOSE_NOT_SUPPORTED: "algorithm",
  ERR_JWKS_NO_MATCHING_KEY: "unknown_kid",
  ERR_JWKS_MULTIPLE_MATCHING_KEYS: "unknown_kid",
  ERR_JWS_SIGNATURE_VERIFICATION_FAILED: "signature",
  ERR_JWS_INVALID: "malformed",
  ERR_JWT_INVALID: "malformed",
};

/** How a failed claim check maps to a refusal reason. */
const CLAIM_REASONS: Readonly<Record<string, AuthFailureReason>> = {
  nbf: "not_yet_valid",
  iss: "issuer",
  aud: "audience",
};

/** What the client is told for each reason. */
const MESSAGES: Partial<Record<AuthFailureReason, string>> = {
  expired: "The token has expired",
  not_yet_valid: "The token is not valid yet",
  issuer: "The token's issuer is not trusted",
  audience: "The token is not meant for this gateway",
  algorithm: "The token's algorithm is not accepted",
  unknown_kid: "The token's signing key is not one of its issuer's keys",
  signature: "The token's signature does not verify",
  malformed: "The token is not a JWT",
};

/** Verifies JWTs and turns them into principals. */
export class JwtVerifier {
  readonly #options: JwtVerifierOptions;
  readonly #cache: VerifiedTokenCache;
  readonly #skewMs: number;

  /** A verifier trusting `options.issuers`. */
  constructor(options: JwtVerifierOptions) {
    this.#options = options;
    this.#skewMs = Math.min(options.clockSkewMs ?? MAX_CLOCK_SKEW_MS, MAX_CLOCK_SKEW_MS);
    this.#cache = options.cache ?? new VerifiedTokenCache();
  }

  /**
   * The principal of `token`. Its `expiresAt` is `exp` plus the allowed skew:
   * the moment the token stops verifying here.
   *
   * @throws {AuthenticationError} when the token does not verify.
   */
  async verify(token: string): Promise<Principal> {
    const cached = this.#cache.get(token);
    if (cached) return cached;
    let claims: JWTPayload;
    try {
      claims = decodeJwt(token);
    } catch (error) {
      throw new AuthenticationError("malformed", MESSAGES.malformed!, { cause: error });
    }
    // The unverified `iss` only picks whose keys to check the signature with.
    const keys = typeof claims.iss === "string" ? this.#options.issuers.get(claims.iss) : undefined;
    if (!keys) throw new AuthenticationError("issuer", MESSAGES.issuer!);
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, keys, {
        issuer: claims.iss,
        audience: this.#options.audience,
        algorithms: [...this.#options.algorithms],
        clockTolerance: this.#skewMs / 1000,
        requiredClaims: ["exp", "sub"],
      }));
    } catch (error) {
      throw refusal(error);
    }
    const principal = this.#principal(payload);
    this.#cache.set(token, principal);
    return principal;
  }

  #principal(payload: JWTPayload): Principal {
    const { sub, exp, scope, venues } = payload as JWTPayload & {
      scope?: unknown;
      venues?: unknown;
    };
    if (typeof sub !== "string" || sub === "") throw claimError("sub must be a non-empty string");
    if (scope !== undefined && typeof scope !== "string") {
      throw claimError("scope must be a space-separated string");
    }
    const venueList = venues === undefined ? undefined : venueIds(venues);
    return Object.freeze({
      id: sub,
      kind: "jwt",
      scopes: new Set(scope?.split(" ").filter(Boolean) ?? []),
      ...(venueList ? { venues: new Set(venueList) } : {}),
      expiresAt: exp! * 1000 + this.#skewMs,
    });
  }
}

/** The `venues` claim as venue ids; anything but a list of ids is refused, never read as "all venues". */
function venueIds(venues: unknown): string[] {
  const ok = Array.isArray(venues) &&
    venues.every((v) => (typeof v === "string" && v !== "") || Number.isInteger(v));
  if (!ok) throw claimError("venues must be a list of venue ids");
  return (venues as (string | number)[]).map(String);
}

function claimError(message: string): AuthenticationError {
  return new AuthenticationError("claims", `The token's ${message}`);
}

/** The refusal of a jose (or key-fetching) error. */
function refusal(error: unknown): AuthenticationError {
  if (error instanceof JwksUnavailableError) {
    return new AuthenticationError("jwks_unavailable", error.message, { cause: error });
  }
  if (!(error instanceof errors.JOSEError)) {
    return new AuthenticationError("malformed", MESSAGES.malformed!, { cause: error });
  }
  const reason = error instanceof errors.JWTClaimValidationFailed
    ? CLAIM_REASONS[error.claim] ?? "claims"
    : REASONS[error.code] ?? "malformed";
  const message = reason === "claims"
    ? `The token's claims are not valid: ${error.message}`
    : MESSAGES[reason]!;
  return new AuthenticationError(reason, message, { cause: error });
}

/**
 * Verified tokens, kept until they expire so a long-lived client does not pay
 * for a signature check on every request.
 *
 * @module
 */
import { createHash } from "node:crypto";
import type { Principal } from "./principal.ts";

/** Default most tokens remembered; the oldest is forgotten first. */
export const DEFAULT_TOKEN_CACHE_ENTRIES = 10_000;

/** Options of {@linkcode VerifiedTokenCache}. */
export interface VerifiedTokenCacheOptions {
  /** Most tokens remembered. @default {DEFAULT_TOKEN_CACHE_ENTRIES} */
  maxEntries?: number;
  /** The clock, in ms since the epoch. @default {Date.now} */
  now?: () => number;
}

/**
 * Principals of verified tokens until their `expiresAt`. Entries are keyed by
 * the token's SHA-256, so the cache holds no bearer token and its lookups do
 * not compare token text.
 */
export class VerifiedTokenCache {
  readonly #entries = new Map<string, Principal>();
  readonly #maxEntries: number;
  readonly #now: () => number;

  /** An empty cache. */
  constructor(options: VerifiedTokenCacheOptions = {}) {
    this.#maxEntries = options.maxEntries ?? DEFAULT_TOKEN_CACHE_ENTRIES;
    this.#now = options.now ?? Date.now;
  }

  /** The principal of `token` if it was verified and has not expired since. */
  get(token: string): Principal | undefined {
    const key = digest(token);
    const principal = this.#entries.get(key);
    if (principal === undefined) return undefined;
    if ((principal.expiresAt ?? Infinity) > this.#now()) return principal;
    this.#entries.delete(key);
    return undefined;
  }

  /** Remembers that `token` verified as `principal` (until `principal.expiresAt`). */
  set(token: string, principal: Principal): void {
    const key = digest(token);
    this.#entries.delete(key);
    if (this.#entries.size >= this.#maxEntries) {
      this.#entries.delete(this.#entries.keys().next().value!);
    }
    this.#entries.set(key, principal);
  }
}

function digest(token: string): string {
  return createHash("sha256").update(token).digest("base64");
}

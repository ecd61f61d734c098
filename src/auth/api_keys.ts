/**
 * API keys for devices and services: random 256-bit secrets, shown once when
 * minted. The gateway keeps only each key's SHA-256 with its id, scopes and
 * venues, read from `auth.api_keys_file` (a YAML or JSON list).
 *
 * @module
 */
import { Buffer } from "node:buffer";
import { createHash } from "node:crypto";
import { parse as parseYaml } from "yaml";
import { z } from "zod";
import { ConfigError } from "../errors.ts";
import { AuthenticationError } from "./errors.ts";
import type { Principal } from "./principal.ts";

/** Every API key starts with this, so a token is told from a JWT without trying both. */
export const API_KEY_PREFIX = "tsk_";
/** Random bytes in a key: 256 bits. */
export const API_KEY_BYTES = 32;

/** A principal id: what logs, metrics and limits name. */
const PRINCIPAL_ID = /^[A-Za-z0-9._:@-]{1,128}$/;
/** A scope: `admin`, or `publish:`, `subscribe:` or `group:` and a name (or prefix and `*`). */
export const SCOPE_PATTERN = /^(admin|(publish|subscribe|group):[A-Za-z0-9._*-]{1,249})$/;

/** Scopes as a list or as one space-separated string (as a JWT `scope` claim). */
const Scopes = z.preprocess(
  (v) => typeof v === "string" ? v.split(/\s+/).filter(Boolean) : v,
  z.array(z.string().regex(SCOPE_PATTERN, { message: "must be admin or kind:name" })),
);

/** One entry of the API keys file. */
export const ApiKeyEntry = z.object({
  id: z.string().regex(PRINCIPAL_ID, {
    message: "must be 1-128 characters of A-Z, a-z, 0-9, '.', '_', ':', '@' or '-'",
  }),
  sha256: z.string().regex(/^[0-9a-f]{64}$/, { message: "must be 64 lowercase hex digits" }),
  scopes: Scopes,
  /** Venues the key is pinned to; left out: organisation-wide. */
  venues: z.array(z.union([z.string().min(1).max(128), z.int()]).transform(String)).optional(),
}).strict();

/** One entry of the API keys file. */
export type ApiKeyEntry = z.infer<typeof ApiKeyEntry>;

/** The SHA-256 of `key`, as lowercase hex: what the keys file holds. */
export function hashApiKey(key: string): string {
  return createHash("sha256").update(key).digest("hex");
}

/** A new random API key. */
export function mintApiKey(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(API_KEY_BYTES));
  return API_KEY_PREFIX + Buffer.from(bytes).toString("base64url");
}

interface StoredKey {
  /** The entry's SHA-256, as lowercase hex. */
  sha256: string;
  principal: Principal;
}

/** Whether two strings of one length are equal, in time that depends on their length only. */
function equalInConstantTime(a: string, b: string): boolean {
  let difference = a.length ^ b.length;
  for (let i = 0; i < a.length; i++) difference |= a.charCodeAt(i) ^ b.charCodeAt(i);
  return difference === 0;
}

/** The configured API keys. */
export class ApiKeyStore {
  readonly #byDigest = new Map<string, StoredKey>();

  /** A store of `entries`. */
  constructor(entries: readonly ApiKeyEntry[]) {
    for (const entry of entries) {
      this.#byDigest.set(entry.sha256, {
        sha256: entry.sha256,
        principal: Object.freeze({
          id: entry.id,
          kind: "api_key",
          scopes: new Set(entry.scopes),
          ...(entry.venues ? { venues: new Set(entry.venues) } : {}),
        }),
      });
    }
  }

  /**
   * Reads the keys file at `path`.
   *
   * @throws {ConfigError} when it cannot be read, is not a list of valid
   * entries, or repeats an id or a hash.
   */
  static load(path: string): ApiKeyStore {
    let text: string;
    try {
      text = Deno.readTextFileSync(path);
    } catch (error) {
      throw new ConfigError("auth.api_keys_file", `cannot read ${path}`, { cause: error });
    }
    return ApiKeyStore.parse(text, path);
  }

  /**
   * The store of a keys file's text (`source` names it in errors).
   *
   * @throws {ConfigError} when it is not a list of valid entries, or repeats an id or a hash.
   */
  static parse(text: string, source: string): ApiKeyStore {
    let raw: unknown;
    try {
      raw = parseYaml(text) ?? [];
    } catch (error) {
      throw new ConfigError("auth.api_keys_file", `${source} is not valid YAML or JSON`, {
        cause: error,
      });
    }
    const parsed = z.array(ApiKeyEntry).safeParse(raw);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      throw new ConfigError(
        "auth.api_keys_file",
        `${source}: entry ${issue.path.join(".") || "(file)"} ${issue.message}`,
      );
    }
    for (const field of ["id", "sha256"] as const) {
      const values = parsed.data.map((e) => e[field]);
      const repeated = values.find((v, i) => values.indexOf(v) !== i);
      if (repeated !== undefined) {
        throw new ConfigError("auth.api_keys_file", `${source}: ${field} ${repeated} is repeated`);
      }
    }
    return new ApiKeyStore(parsed.data);
  }

  /**
   * The principal of `key`.
   *
   * The key is looked up by its SHA-256, so the lookup's timing depends only
   * on the hash of what the caller sent, never on a stored key; the final
   * comparison of the two hashes is in constant time.
   *
   * @throws {AuthenticationError} (`unknown_key`) when no entry hashes to it.
   */
  verify(key: string): Principal {
    // Hex straight from the hash: a Buffer digest, its hex string and timingSafeEqual cost 2.7 µs
    // a request against 1.1.
    const digest = hashApiKey(key);
    const stored = this.#byDigest.get(digest);
    if (!stored || !equalInConstantTime(stored.sha256, digest)) {
      throw new AuthenticationError("unknown_key", "The API key is not valid");
    }
    return stored.principal;
  }
}

/**
 * Who is calling: the principal an API key or a JWT names, or the anonymous
 * caller when `auth.mode` is `none`. Permissions and limits read this.
 *
 * @module
 */

/** How a principal proved who it is. */
export type PrincipalKind = "anonymous" | "api_key" | "jwt";

/** An authenticated (or anonymous) caller. */
export interface Principal {
  /** Stable id for logs, metrics and limits: the key's id, the JWT's `sub`, or `anonymous`. */
  readonly id: string;
  /** How it was authenticated. */
  readonly kind: PrincipalKind;
  /** Granted scopes, e.g. `publish:CustomerIdentified`, `subscribe:*`, `group:kitchen-*`, `admin`. */
  readonly scopes: ReadonlySet<string>;
  /** Venues it is pinned to; `undefined` means organisation-wide. */
  readonly venues?: ReadonlySet<string>;
  /** When its credential stops being valid (JWT `exp`), in ms since the epoch. */
  readonly expiresAt?: number;
}

/** The Hono context variable that holds the request's {@linkcode Principal}. */
export const PRINCIPAL_VARIABLE = "principal";

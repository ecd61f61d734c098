/**
 * The principals of callers without a credential.
 *
 * @module
 */
import { ALL_SCOPES } from "./permissions.ts";
import type { Principal } from "./principal.ts";

/** The id of every anonymous principal. */
export const ANONYMOUS_ID = "anonymous";

/** The caller when `auth.mode` is `none`: every scope, every venue. */
export const ANONYMOUS: Principal = Object.freeze({
  id: ANONYMOUS_ID,
  kind: "anonymous",
  scopes: ALL_SCOPES,
});

/**
 * A caller without a credential when `auth.mode` is `required`, on the routes
 * that need none (health, documents): no scope at all.
 */
export const UNAUTHENTICATED: Principal = Object.freeze({
  id: ANONYMOUS_ID,
  kind: "anonymous",
  scopes: new Set<string>(),
});

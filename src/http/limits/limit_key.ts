/**
 * Whose limit a request counts against: its principal's, or, for an anonymous
 * caller (or none), its client address's.
 *
 * @module
 */
import type { Context } from "hono";
import { type Principal, PRINCIPAL_VARIABLE } from "../../auth/principal.ts";
import { clientAddress } from "../client_address.ts";

/** Who a limit applies to. */
export interface LimitKey {
  /** The key limits are kept under: `principal:<id>` or `address:<ip>`. */
  key: string;
  /** The principal id for logs (`anonymous` for an address). */
  principalId: string;
}

/** The limit key of `c`. */
export function limitKey(c: Context): LimitKey {
  const principal = c.get(PRINCIPAL_VARIABLE as never) as Principal | undefined;
  if (principal && principal.kind !== "anonymous") {
    return { key: `principal:${principal.id}`, principalId: principal.id };
  }
  return { key: `address:${clientAddress(c)}`, principalId: principal?.id ?? "anonymous" };
}

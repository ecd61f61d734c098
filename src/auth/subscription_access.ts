/**
 * Access to a subscription: the request as the principal may open it (or
 * the `403` before any upgrade), and, while it is open, the watch that ends
 * it when the credential expires unless a fresh token renews it.
 *
 * @module
 */
import type { Context } from "hono";
import type { SubscriptionRequest } from "../subscribe/request.ts";
import { ConnectionCredential } from "./connection_credential.ts";
import type { GatewayAuth } from "./gateway_auth.ts";
import { principalOf, requestOrigin } from "./middleware.ts";

/** Why an open connection is refused after a renewal: `4401` or `4403`. */
export type RenewalFailure = "unauthorized" | "forbidden";

/** The credential watch of an open subscription. */
export interface AccessWatch {
  /** Renews the credential with `token`; calls `refuse` when the token is refused. */
  renew(token: string, refuse: (failure: RenewalFailure, detail: string) => void): void;
  /** Stops watching (the subscription ended). */
  stop(): void;
}

/** A subscription the principal may open, or the response refusing it. */
export type SubscriptionAccess = {
  ok: true;
  /** The request with the principal's venue filter. */
  request: SubscriptionRequest;
  /** Starts watching the credential; `onExpired` runs once if it expires unrenewed. */
  watch(onExpired: () => void): AccessWatch;
} | { ok: false; response: Response };

/**
 * The access of `c`'s principal to `request` (with its query `params`, whose
 * tenant filters must name the principal's venues).
 */
export function subscriptionAccess(
  auth: GatewayAuth,
  c: Context,
  request: SubscriptionRequest,
  params: URLSearchParams,
): SubscriptionAccess {
  const principal = principalOf(c);
  const origin = requestOrigin(c);
  const grant = auth.permissions.subscription(principal, request, params);
  if (!grant.ok) {
    return { ok: false, response: auth.refusals.forbidden(principal, grant.refusal, origin) };
  }
  return {
    ok: true,
    request: grant.request,
    watch(onExpired) {
      const credential = new ConnectionCredential(principal, {
        authenticator: auth.authenticator,
        permits: (next) => {
          const again = auth.permissions.subscription(next, request, params);
          return again.ok ? undefined : again.refusal;
        },
        onExpired: () => {
          auth.refusals.note("expired", origin, credential.principal);
          onExpired();
        },
      });
      return {
        renew(token, refuse) {
          // Without authentication (`auth.mode: none`) there is nothing to renew.
          if (principal.kind === "anonymous") return;
          credential.renew(token).then((renewal) => {
            if (renewal.ok) return;
            auth.refusals.note(renewal.reason, origin, credential.principal);
            refuse(renewal.forbidden ? "forbidden" : "unauthorized", renewal.detail);
          });
        },
        stop: () => credential.stop(),
      };
    },
  };
}

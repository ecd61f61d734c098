/**
 * The credential of one long-lived connection (a WebSocket or an SSE
 * stream): when it expires the connection is closed, unless the client sent
 * a fresh token for the same principal first (`{"type":"auth","token":...}`).
 *
 * @module
 */
import type { Authenticator } from "./authenticator.ts";
import { AuthenticationError, type AuthFailureReason } from "./errors.ts";
import type { Refusal } from "./permissions.ts";
import type { Principal } from "./principal.ts";

/** Longest delay `setTimeout` takes; later expiries are waited for in steps. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** Options of {@linkcode ConnectionCredential}. */
export interface ConnectionCredentialOptions {
  /** Verifies renewal tokens. */
  authenticator: Authenticator;
  /** Refuses a renewed principal that may no longer hold the connection. */
  permits: (principal: Principal) => Refusal | undefined;
  /** Called once when the credential expires without a renewal. */
  onExpired: () => void;
}

/** How a renewal ended. */
export type Renewal = { ok: true } | {
  ok: false;
  /** Why, as a refusal reason. */
  reason: AuthFailureReason;
  /** For the client. */
  detail: string;
  /** The token authenticated but may not hold this connection (`4403`, not `4401`). */
  forbidden: boolean;
};

/** Watches the expiry of a connection's credential. */
export class ConnectionCredential {
  readonly #options: ConnectionCredentialOptions;
  #principal: Principal;
  #timer?: ReturnType<typeof setTimeout>;
  #stopped = false;

  /** Watches `principal`'s credential from now on. */
  constructor(principal: Principal, options: ConnectionCredentialOptions) {
    this.#principal = principal;
    this.#options = options;
    this.#arm();
  }

  /** The principal the connection is held by now. */
  get principal(): Principal {
    return this.#principal;
  }

  /**
   * Replaces the credential with `token`'s, which must name the same
   * principal, pinned to the same venues, and still permit the connection.
   */
  async renew(token: string): Promise<Renewal> {
    let next: Principal;
    try {
      next = await this.#options.authenticator.authenticate(token);
    } catch (error) {
      if (!(error instanceof AuthenticationError)) throw error;
      return { ok: false, reason: error.reason, detail: error.message, forbidden: false };
    }
    const current = this.#principal;
    if (next.id !== current.id || next.kind !== current.kind) {
      return {
        ok: false,
        reason: "claims",
        detail: "A renewal must be for the same principal",
        forbidden: true,
      };
    }
    if (!sameVenues(next.venues, current.venues)) {
      return { ok: false, reason: "venue", detail: "The token's venues changed", forbidden: true };
    }
    const refusal = this.#options.permits(next);
    if (refusal) {
      return { ok: false, reason: refusal.reason, detail: refusal.detail, forbidden: true };
    }
    if (this.#stopped) return { ok: true };
    this.#principal = next;
    clearTimeout(this.#timer);
    this.#arm();
    return { ok: true };
  }

  /** Stops watching (the connection closed). */
  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#timer);
  }

  #arm(): void {
    const { expiresAt } = this.#principal;
    if (expiresAt === undefined || this.#stopped) return;
    const left = expiresAt - Date.now();
    this.#timer = setTimeout(() => {
      if (left > MAX_TIMER_MS) return this.#arm();
      this.#stopped = true;
      this.#options.onExpired();
    }, Math.max(0, Math.min(left, MAX_TIMER_MS)));
  }
}

function sameVenues(a?: ReadonlySet<string>, b?: ReadonlySet<string>): boolean {
  if (a === undefined || b === undefined) return a === b;
  return a.size === b.size && [...a].every((v) => b.has(v));
}

/**
 * The NATS adapter of the live bus. It connects in the background and keeps
 * reconnecting by itself; while it is down, publishes are dropped and counted,
 * never awaited, so NATS can neither fail nor slow the publish path.
 *
 * @module
 */
import {
  AuthorizationError,
  connect,
  credsAuthenticator,
  headers,
  type NatsConnection,
  type NodeConnectionOptions,
} from "@nats-io/transport-node";
import { type Backoff, backoffDelay, sleep } from "../backoff.ts";
import type { Logger } from "../telemetry/logger.ts";
import type { LiveBus, LiveMessage } from "./live_bus.ts";

/** Waits between connection attempts: 250 ms, doubling, at most 5 s. */
const CONNECT_RETRY: Backoff = { firstMs: 250, maxMs: 5000 };
/** Wait between the client's own reconnect attempts once connected, in ms. */
const RECONNECT_WAIT_MS = 500;
/** Longest a connection attempt may take, in ms. */
const CONNECT_TIMEOUT_MS = 2000;

/** How the bus logs in: a user and password, a token, or the text of a `.creds` file. */
export type NatsAuth =
  | { user: string; password: string }
  | { token: string }
  | { creds: string };

/** Options of {@linkcode NatsBus}. */
export interface NatsBusOptions {
  /** Comma-separated server URLs, e.g. `nats://127.0.0.1:4222`. */
  url: string;
  /** Connection name shown by the server. */
  name: string;
  /** The login; none when unset. */
  auth?: NatsAuth;
  /**
   * TLS required, verified against `ca` (PEM) or the system's roots. Unset:
   * TLS only when the server asks for it.
   */
  tls?: { ca?: string };
}

/** The connection options of `auth`. */
export function loginOptions(auth: NatsAuth | undefined): Partial<NodeConnectionOptions> {
  if (auth === undefined) return {};
  if ("creds" in auth) {
    return { authenticator: credsAuthenticator(new TextEncoder().encode(auth.creds)) };
  }
  if ("token" in auth) return { token: auth.token };
  return { user: auth.user, pass: auth.password };
}

/** A {@linkcode LiveBus} on NATS core. */
export class NatsBus implements LiveBus {
  readonly backend = "nats";
  readonly #logger: Logger;
  #nc?: NatsConnection;
  #closed = false;
  #up = false;

  /** Connects in the background and keeps reconnecting. */
  constructor(options: NatsBusOptions, logger: Logger) {
    this.#logger = logger;
    void this.#connect(options);
  }

  publish(message: LiveMessage): boolean {
    const nc = this.#nc;
    if (!nc || !this.connected()) return false;
    try {
      const h = headers();
      for (const [k, v] of Object.entries(message.headers)) h.set(k, v);
      nc.publish(message.subject, message.data, { headers: h });
      return true;
    } catch (error) {
      this.#logger.log("warn", "NATS publish dropped", { component: "nats", error: String(error) });
      return false;
    }
  }

  async subscribe(pattern: string, handler: (message: LiveMessage) => void): Promise<() => void> {
    const nc = this.#nc;
    if (!nc || nc.isClosed()) throw new Error("NATS is not connected");
    const sub = nc.subscribe(pattern, {
      callback: (error, msg) => {
        if (error) return;
        const h: Record<string, string> = {};
        for (const key of msg.headers?.keys() ?? []) h[key] = msg.headers!.get(key);
        handler({ subject: msg.subject, data: msg.string(), headers: h });
      },
    });
    // The server has the subscription once it answers a PING sent after it.
    await nc.flush();
    return () => sub.unsubscribe();
  }

  connected(): boolean {
    // nats.js reports reconnecting through status events; isClosed covers the rest.
    return this.#up && this.#nc !== undefined && !this.#nc.isClosed();
  }

  async close(): Promise<void> {
    this.#closed = true;
    const nc = this.#nc;
    if (nc && !nc.isClosed()) await nc.drain().catch(() => nc.close());
  }

  async #connect(options: NatsBusOptions): Promise<void> {
    for (let attempt = 0; !this.#closed; attempt++) {
      try {
        const nc = await connect({
          servers: options.url.split(",").map((s) => s.trim()),
          name: options.name,
          reconnect: true,
          maxReconnectAttempts: -1,
          reconnectTimeWait: RECONNECT_WAIT_MS,
          timeout: CONNECT_TIMEOUT_MS,
          tls: options.tls,
          ...loginOptions(options.auth),
        });
        this.#nc = nc;
        this.#up = true;
        this.#watch(nc);
        this.#logger.log("info", "NATS connected", { component: "nats", server: nc.getServer() });
        return;
      } catch (error) {
        if (attempt === 0) {
          const refused = error instanceof AuthorizationError;
          this.#logger.log(
            refused ? "error" : "warn",
            refused
              ? "NATS refused the login; retrying in the background"
              : "NATS not reachable; retrying in the background",
            { component: "nats", error: String(error) },
          );
        }
        await sleep(backoffDelay(attempt, CONNECT_RETRY));
      }
    }
  }

  async #watch(nc: NatsConnection): Promise<void> {
    for await (const status of nc.status()) {
      if (status.type === "disconnect") this.#up = false;
      if (status.type === "reconnect") this.#up = true;
      if (status.type === "disconnect" || status.type === "reconnect") {
        this.#logger.log("warn", `NATS ${status.type}`, { component: "nats" });
      }
    }
  }
}

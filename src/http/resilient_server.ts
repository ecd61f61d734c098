/**
 * The HTTP server: `Deno.serve`, kept listening whatever clients do.
 *
 * `Deno.serve`'s accept loop ends on the first failed `accept` (for example
 * `EMFILE`, out of file descriptors: `op_http_serve` in Deno's
 * `ext/http/http_next.rs` returns the error with `?`), and its `finished`
 * promise rejects, which left unhandled ends the process. It also has no
 * per-connection header or idle timeout (denoland/deno#3515, #32497). So when
 * the loop fails, or when {@linkcode ResilientServer.recycle} is called, the
 * server is shut down gracefully (which closes its idle and header-less
 * connections with a FIN, sends WebSockets a `1001` close, and lets requests
 * in flight finish) and a new listener opens on the same address, retried
 * with backoff until descriptors are free again.
 *
 * @module
 */
import { type Backoff, backoffDelay, sleep } from "../backoff.ts";
import type { Logger } from "../telemetry/logger.ts";
import type { Metrics } from "../telemetry/metrics.ts";

/** First wait before opening the listener again after a failure, in ms. */
export const DEFAULT_REOPEN_DELAY_MS = 50;
/** Longest wait between two attempts to open the listener, in ms. */
export const MAX_REOPEN_DELAY_MS = 2000;
/** Waits between attempts to listen again: from the first delay, doubling, up to the longest. */
const REOPEN_RETRY: Backoff = { firstMs: DEFAULT_REOPEN_DELAY_MS, maxMs: MAX_REOPEN_DELAY_MS };

/** Why the listener was reopened, as a metric label. */
export type RestartReason = "accept_failed" | "saturated";

/** Where and how to listen: `Deno.serve`'s TCP options, with a certificate for HTTPS. */
export type ListenOptions = Deno.ServeTcpOptions & Partial<Deno.TlsCertifiedKeyPem>;

/** What a {@linkcode ResilientServer} needs besides its options and handler. */
export interface ResilientServerDeps {
  /** Logs restarts. */
  logger: Logger;
  /** Counts restarts in `tastesync_http_listener_restarts_total{reason}`. */
  metrics: Pick<Metrics, "listenerRestarts">;
  /** Starts one `Deno.serve` server (tests hand in another). */
  serve?: (options: ListenOptions, handler: Deno.ServeHandler) => Deno.HttpServer<Deno.NetAddr>;
}

/** A `Deno.serve` server that reopens its listener when it fails. */
export class ResilientServer {
  readonly #options: ListenOptions;
  readonly #handler: Deno.ServeHandler;
  readonly #deps: ResilientServerDeps;
  readonly #serve: NonNullable<ResilientServerDeps["serve"]>;
  readonly #draining = new Set<Promise<void>>();
  #server?: Deno.HttpServer<Deno.NetAddr>;
  #port: number;
  #opening = false;
  #stopped = false;

  /**
   * Listens as `options` say and serves `handler`. `options.onListen` runs
   * for the first listener only; the ones reopened later keep its port.
   */
  constructor(options: ListenOptions, handler: Deno.ServeHandler, deps: ResilientServerDeps) {
    this.#options = options;
    this.#handler = handler;
    this.#deps = deps;
    this.#serve = deps.serve ?? ((o, h) => Deno.serve(o, h));
    this.#port = options.port ?? 0;
    this.#listen(true);
  }

  /** The address listened on. */
  get addr(): Deno.NetAddr | undefined {
    return this.#server?.addr;
  }

  /**
   * Closes the idle connections: shuts the current server down gracefully
   * and listens again at once.
   */
  recycle(reason: RestartReason): void {
    if (this.#stopped || this.#opening) return;
    this.#deps.logger.log("warn", "Reopening the HTTP listener; idle connections are closed", {
      reason,
    });
    this.#deps.metrics.listenerRestarts.inc({ reason });
    this.#retire();
    this.#reopen();
  }

  /** Stops listening and waits for the requests in flight, on this and every retired server. */
  async shutdown(): Promise<void> {
    this.#stopped = true;
    this.#retire();
    await Promise.all(this.#draining);
  }

  /** Listens; with `first`, a failure to listen is thrown (a wrong address must stop start-up). */
  #listen(first: boolean): void {
    const server = this.#serve({
      ...this.#options,
      port: this.#port,
      onListen: (addr) => {
        this.#port = addr.port;
        if (first) this.#options.onListen?.(addr);
        else this.#deps.logger.log("info", "HTTP listener reopened", { port: addr.port });
      },
    }, this.#handler);
    this.#server = server;
    server.finished.catch((error) => {
      if (this.#server !== server || this.#stopped) return;
      this.#deps.logger.log("error", "The HTTP accept loop failed", { error: String(error) });
      this.#deps.metrics.listenerRestarts.inc({ reason: "accept_failed" });
      this.#retire();
      this.#reopen();
    });
  }

  /** Shuts the current server down gracefully, without waiting for it. */
  #retire(): void {
    const server = this.#server;
    if (!server) return;
    this.#server = undefined;
    const drained = server.shutdown().catch(() => {}).finally(() => this.#draining.delete(drained));
    this.#draining.add(drained);
  }

  /** Listens again, waiting longer after each failure (descriptors may still be short). */
  async #reopen(): Promise<void> {
    this.#opening = true;
    try {
      for (let attempt = 0; !this.#stopped; attempt++) {
        await sleep(backoffDelay(attempt, REOPEN_RETRY));
        try {
          this.#listen(false);
          return;
        } catch (error) {
          this.#deps.logger.log("warn", "Cannot listen yet; retrying", { error: String(error) });
        }
      }
    } finally {
      this.#opening = false;
    }
  }
}

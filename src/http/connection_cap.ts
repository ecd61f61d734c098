/**
 * The process-wide connection cap, kept below the open-files limit so that a
 * flood of connections cannot leave the process without descriptors.
 *
 * `Deno.serve` does not tell the application about connections, only about
 * requests, so connections are counted as the file descriptors open beyond
 * those open when the cap started (sampled from `/proc/self/fd`; Linux only,
 * elsewhere the cap is off). At the cap, requests are answered `503` with
 * `Connection: close`, which gives their descriptor back, and counted in
 * `tastesync_rate_limited_total{kind="connections"}`. A connection that
 * sends no request at all cannot be answered: when the process has stayed
 * at its cap for the saturation timeout, {@linkcode ConnectionCap.start}'s
 * `onSaturated` runs so the server can close its idle connections.
 *
 * @module
 */
import type { MiddlewareHandler } from "hono";
import type { FileDescriptors } from "../telemetry/file_descriptors.ts";
import type { Logger } from "../telemetry/logger.ts";
import type { Metrics } from "../telemetry/metrics.ts";
import { problem, problemResponse } from "./problem.ts";

/** Descriptors kept free for everything but client connections (brokers, files, the listener). */
export const DEFAULT_FD_RESERVE = 64;
/** Default interval between two counts of the open descriptors, in ms. */
export const DEFAULT_SAMPLE_INTERVAL_MS = 250;
/** `Retry-After` of a `503` at the cap, in seconds. */
export const OVERLOADED_RETRY_AFTER_SECONDS = 1;
/** Paths answered even at the cap: the liveness probe (the process is alive, only busy). */
export const CAP_EXEMPT_PATHS: ReadonlySet<string> = new Set(["/healthz"]);

/** Options of {@linkcode ConnectionCap}. */
export interface ConnectionCapOptions {
  /** Where open descriptors are counted. */
  fds: FileDescriptors;
  /** Most client connections; 0: the soft open-files limit less `reserve`. */
  maxConnections: number;
  /** How long the process may stay at its cap before `onSaturated` runs, in ms. */
  saturationTimeoutMs: number;
  /** Descriptors kept free when the cap is derived from the limit; default {@linkcode DEFAULT_FD_RESERVE}. */
  reserve?: number;
  /** Interval between counts, in ms; default {@linkcode DEFAULT_SAMPLE_INTERVAL_MS}. */
  sampleIntervalMs?: number;
  /** Logs when the cap is reached and left. */
  logger: Logger;
  /** Counts refusals and reports the connections open. */
  metrics: Pick<Metrics, "rateLimited" | "connections">;
}

/** The connection cap of one process. */
export class ConnectionCap {
  readonly #options: ConnectionCapOptions;
  #max = Infinity;
  #baseline = 0;
  #saturatedSince?: number;
  #sampling = false;
  #timer?: ReturnType<typeof setInterval>;

  /** A cap as `options` set it; it counts nothing until {@linkcode start}. */
  constructor(options: ConnectionCapOptions) {
    this.#options = options;
  }

  /** The cap in force (`Infinity` when off). */
  get max(): number {
    return this.#max;
  }

  /** Whether the process is at its cap now. */
  get saturated(): boolean {
    return this.#saturatedSince !== undefined;
  }

  /**
   * Takes the descriptors open now as those that are not connections, derives
   * the cap, and counts every sample interval; `onSaturated` runs each time
   * the process has stayed at its cap for the saturation timeout.
   */
  async start(onSaturated: () => void): Promise<void> {
    const { fds, maxConnections, reserve = DEFAULT_FD_RESERVE, logger } = this.#options;
    if (!fds.available) {
      logger.log("warn", "Open file descriptors cannot be counted here; no connection cap");
      return;
    }
    this.#baseline = await fds.open();
    const limit = await fds.softLimit();
    const fromLimit = limit === undefined ? Infinity : limit - this.#baseline - reserve;
    this.#max = Math.max(1, Math.min(maxConnections || Infinity, fromLimit));
    logger.log("info", "Connection cap", {
      max_connections: this.#max,
      open_files_limit: limit,
      open_files: this.#baseline,
    });
    this.#timer = setInterval(
      () => this.#sample(onSaturated),
      this.#options.sampleIntervalMs ?? DEFAULT_SAMPLE_INTERVAL_MS,
    );
    Deno.unrefTimer(this.#timer);
  }

  /** Stops counting. */
  stop(): void {
    clearInterval(this.#timer);
  }

  /** The middleware answering `503` at the cap. */
  middleware(): MiddlewareHandler {
    return async (c, next) => {
      if (!this.saturated || CAP_EXEMPT_PATHS.has(c.req.path)) return await next();
      this.#options.metrics.rateLimited.inc({ kind: "connections" });
      return problemResponse(
        problem("overloaded", `The gateway has ${this.#max} connections open; try again later`),
        { "retry-after": String(OVERLOADED_RETRY_AFTER_SECONDS), connection: "close" },
      );
    };
  }

  async #sample(onSaturated: () => void): Promise<void> {
    if (this.#sampling) return;
    this.#sampling = true;
    let connections;
    try {
      connections = Math.max(0, (await this.#options.fds.open()) - this.#baseline);
    } catch {
      return; // Out of descriptors to list them with: the next sample tells.
    } finally {
      this.#sampling = false;
    }
    const { metrics, logger, saturationTimeoutMs } = this.#options;
    metrics.connections.set(connections);
    const now = Date.now();
    if (connections < this.#max) {
      if (this.#saturatedSince !== undefined) {
        logger.log("info", "Below the connection cap again", { connections });
      }
      this.#saturatedSince = undefined;
      return;
    }
    if (this.#saturatedSince === undefined) {
      this.#saturatedSince = now;
      logger.log("warn", "At the connection cap: new requests get 503", {
        connections,
        max_connections: this.#max,
      });
    } else if (now - this.#saturatedSince >= saturationTimeoutMs) {
      this.#saturatedSince = now;
      onSaturated();
    }
  }
}

/**
 * Gateway processes of a chaos round: each keeps its port across restarts,
 * so clients find it again at the same address, and keeps its log lines.
 *
 * @module
 */
import { type GatewayProcess, startGateway, waitReady } from "../testing/harness.ts";
import { freePort } from "../testing/cluster.ts";

/** Every gateway process running now, so an interrupted run can stop them. */
export const running = new Set<GatewayHandle>();

/** One gateway process that can be killed and started again on the same port. */
export class GatewayHandle {
  /** Position in the round's list. */
  readonly index: number;
  /** Base URL (stable across restarts). */
  readonly url: string;
  /** Log lines of every run of this gateway, oldest first. */
  readonly lines: string[] = [];
  /** Exits the round did not cause: `code` of each. */
  readonly unexpectedExits: number[] = [];
  readonly #env: Record<string, string>;
  readonly #cwd?: string;
  #process?: GatewayProcess;
  #stopping = false;

  /** Gateway `index` with settings `env`, run from checkout `cwd` (default: this one). */
  constructor(index: number, env: Record<string, string>, cwd?: string) {
    const port = freePort();
    this.index = index;
    this.url = `http://127.0.0.1:${port}`;
    this.#env = { ...env, TASTESYNC_HTTP_PORT: String(port) };
    this.#cwd = cwd;
  }

  /** Starts the process and waits until `/readyz` answers 200. */
  async start(): Promise<void> {
    this.#stopping = false;
    running.add(this);
    const process = await startGateway(this.#env, {
      ready: false,
      ...(this.#cwd ? { cwd: this.#cwd } : {}),
    });
    this.#process = process;
    process.exited.then((code) => {
      running.delete(this);
      this.lines.push(...process.lines, `-- exited with ${code}`);
      if (!this.#stopping) this.unexpectedExits.push(code);
    });
    await waitReady(this.url);
  }

  /**
   * Publishes this process answered after more than 5 s by its own clock
   * (`tastesync_publish_duration_seconds` beyond its 5 s bucket), and in all;
   * undefined when `/metrics` does not answer.
   */
  async slowPublishes(): Promise<{ over5s: number; total: number } | undefined> {
    const res = await fetch(`${this.url}/metrics`, { signal: AbortSignal.timeout(5000) })
      .catch(() => undefined);
    if (res?.status !== 200) return undefined;
    const text = await res.text();
    const value = (pattern: RegExp) => Number(text.match(pattern)?.[1] ?? NaN);
    const within = value(/^tastesync_publish_duration_seconds_bucket\{[^}]*le="5"[^}]*\} (\d+)/m);
    const total = value(/^tastesync_publish_duration_seconds_count\{[^}]*\} (\d+)/m);
    if (Number.isNaN(within) || Number.isNaN(total)) return undefined;
    return { over5s: total - within, total };
  }

  /** SIGKILLs the process and waits until it is gone. */
  async kill9(): Promise<void> {
    this.#stopping = true;
    await this.#process?.stop("SIGKILL");
  }

  /** SIGTERMs the process; resolves with its exit code. */
  async stop(): Promise<number | undefined> {
    this.#stopping = true;
    return await this.#process?.stop("SIGTERM");
  }
}

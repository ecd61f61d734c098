/**
 * `tastesync-gateway health [PATH]`: the container health check. The image
 * is distroless (no shell, no curl), so the gateway's own binary asks the
 * gateway running beside it for `PATH` (default `/healthz`) on loopback, with
 * the same settings (config file and `TASTESYNC_*` variables), and exits 0 on
 * a `200`, 1 otherwise. Over HTTPS it only checks that the port accepts
 * connections: the probe has no CA that certifies a loopback name.
 *
 * @example
 * ```sh
 * tastesync-gateway health            # liveness, as the Dockerfile's HEALTHCHECK
 * tastesync-gateway health /readyz    # readiness, as docker-compose.yml's healthcheck
 * ```
 *
 * @module
 */
import { loadConfig } from "../config.ts";

/** How long the probe waits for the gateway's answer, in ms. */
export const DEFAULT_HEALTH_TIMEOUT_MS = 3000;

/** The address to reach a server that listens on `host`, from the same machine. */
function loopbackFor(host: string): string {
  if (host === "0.0.0.0") return "127.0.0.1";
  if (host === "::" || host === "[::]") return "[::1]";
  return host.includes(":") && !host.startsWith("[") ? `[${host}]` : host;
}

/**
 * Probes the gateway that runs with these settings; resolves with the exit
 * code: 0 healthy, 1 not (the reason on stderr), 2 for bad arguments or
 * settings.
 */
export async function healthCommand(
  args: string[],
  env: Record<string, string | undefined> = Deno.env.toObject(),
  timeoutMs = DEFAULT_HEALTH_TIMEOUT_MS,
): Promise<number> {
  const path = args.find((a) => a.startsWith("/")) ?? "/healthz";
  if (!/^\/[A-Za-z0-9/_-]*$/.test(path)) {
    console.error(`tastesync-gateway health: ${path} is not a path`);
    return 2;
  }
  let config;
  try {
    config = await loadConfig(args.filter((a) => a !== path), env as Record<string, string>);
  } catch (error) {
    console.error(`tastesync-gateway health: ${(error as Error).message}`);
    return 2;
  }
  const hostname = loopbackFor(config.http.host);
  const port = config.http.port;
  try {
    if (config.http.tls.cert_file !== undefined) {
      const conn = await Deno.connect({ hostname: hostname.replace(/^\[|\]$/g, ""), port });
      conn.close();
      return 0;
    }
    const res = await fetch(`http://${hostname}:${port}${path}`, {
      signal: AbortSignal.timeout(timeoutMs),
    });
    await res.body?.cancel();
    if (res.status === 200) return 0;
    console.error(`tastesync-gateway health: ${path} answered ${res.status}`);
    return 1;
  } catch (error) {
    console.error(`tastesync-gateway health: ${path}: ${(error as Error).message}`);
    return 1;
  }
}

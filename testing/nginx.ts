/**
 * A real nginx (Debian's, installed by `deploy/local/validators.sh`) in front
 * of gateway processes, with the locations the compose file ships
 * (`deploy/docker/nginx/locations.conf`): HTTP, WebSocket and SSE. Each answer
 * names the gateway that served it in `X-Tastesync-Upstream`.
 *
 * @module
 */
import { freePort } from "./cluster.ts";
import { deployTools } from "./deploy_tools.ts";

const ROOT = new URL("..", import.meta.url).pathname;

/** The shipped nginx locations of the gateways. */
export const LOCATIONS_CONF = `${ROOT}deploy/docker/nginx/locations.conf`;

/** Header naming the gateway (`host:port`) that served an answer. */
export const UPSTREAM_HEADER = "x-tastesync-upstream";

/** A running nginx. */
export interface Nginx {
  /** Base URL, e.g. `http://127.0.0.1:40123`. */
  url: string;
  /** The access log so far: one `METHOD PATH STATUS UPSTREAMS` line per request. */
  accessLog(): Promise<string[]>;
  /** Stops nginx and removes its folder. */
  stop(): Promise<void>;
}

/**
 * Starts nginx balancing round-robin over `upstreams` (`host:port`, as the
 * compose file's `upstream tastesync_gateways`) and resolves once it accepts
 * connections.
 */
export async function startNginx(upstreams: string[]): Promise<Nginx> {
  const { nginx } = await deployTools();
  const dir = await Deno.makeTempDir({ prefix: "tastesync-nginx-" });
  // nginx's workers (nobody, when started as root) create their temp folders in it.
  await Deno.chmod(dir, 0o755);
  const port = freePort();
  const servers = upstreams.map((u) => `    server ${u} max_fails=1 fail_timeout=5s;`).join("\n");
  await Deno.writeTextFile(
    `${dir}/nginx.conf`,
    `daemon off;
worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 1024; }
http {
  log_format upstreams '$request_method $uri $status $upstream_addr';
  access_log ${dir}/access.log upstreams;
  client_body_temp_path ${dir}/client_body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  upstream tastesync_gateways {
${servers}
    keepalive 16;
  }
  server {
    listen 127.0.0.1:${port};
    add_header X-Tastesync-Upstream $upstream_addr always;
    include ${LOCATIONS_CONF};
  }
}
`,
  );
  const child = new Deno.Command(nginx, {
    args: ["-p", dir, "-c", `${dir}/nginx.conf`, "-e", `${dir}/error.log`],
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
  const exited = child.status;
  const deadline = Date.now() + 10_000;
  for (;;) {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port }).catch(() => undefined);
    if (conn) {
      conn.close();
      break;
    }
    const early = await Promise.race([exited, new Promise((r) => setTimeout(r, 20, undefined))]);
    if (early !== undefined || Date.now() > deadline) {
      const log = await Deno.readTextFile(`${dir}/error.log`).catch(() => "");
      throw new Error(`nginx did not start:\n${log}`);
    }
  }
  return {
    url: `http://127.0.0.1:${port}`,
    async accessLog() {
      const text = await Deno.readTextFile(`${dir}/access.log`).catch(() => "");
      return text.split("\n").filter(Boolean);
    },
    async stop() {
      try {
        child.kill("SIGTERM");
      } catch { /* already gone */ }
      await exited;
      await Deno.remove(dir, { recursive: true });
    },
  };
}

/**
 * Composition root: load settings, build the gateway, serve, drain on signal.
 *
 * @module
 */
import { loadConfig } from "./src/config.ts";
import { ConfigError } from "./src/errors.ts";
import { createGateway } from "./src/gateway.ts";
import { healthCommand } from "./src/http/health_command.ts";
import { ResilientServer } from "./src/http/resilient_server.ts";
import { httpsCertificate } from "./src/secrets.ts";
import { jsonLogger } from "./src/telemetry/logger.ts";
import { startTracing } from "./src/telemetry/tracing_sdk.ts";

// `tastesync-gateway health [PATH]`: the container health check (the image has no shell).
if (Deno.args[0] === "health") Deno.exit(await healthCommand(Deno.args.slice(1)));

// Settings, and the files they name (secrets, certificates): a bad one stops here.
let config, logger, gateway, https;
try {
  config = await loadConfig(Deno.args);
  logger = jsonLogger(config.log.level);
  https = httpsCertificate(config);
  gateway = createGateway(config, logger);
} catch (error) {
  if (!(error instanceof ConfigError)) throw error;
  console.error(`tastesync-gateway: ${error.message}`);
  Deno.exit(2);
}

const tracing = startTracing({
  endpoint: config.tracing.endpoint,
  sampleRatio: config.tracing.sample_ratio,
  serviceName: config.tracing.service_name,
}, { logger });

const server = new ResilientServer(
  {
    hostname: config.http.host,
    port: config.http.port,
    tcpBacklog: config.http.listen_backlog,
    ...https,
    onListen: ({ hostname, port }) =>
      logger.log("info", "Gateway listening", {
        hostname,
        port,
        tls: https !== undefined,
        log: gateway.log.backend,
        bus: gateway.bus.backend,
      }),
  },
  gateway.app.fetch,
  { logger, metrics: gateway.metrics },
);
const metricsListen = config.metrics.listen;
const metricsServer = metricsListen && Deno.serve({
  hostname: metricsListen.hostname,
  port: metricsListen.port,
  onListen: ({ hostname, port }) => logger.log("info", "Metrics listening", { hostname, port }),
}, gateway.metricsApp.fetch);

let stopping = false;
const stop = async (signal: string) => {
  if (stopping) return;
  stopping = true;
  logger.log("info", "Shutting down", { signal });
  // However long a broker or a client takes, the process is gone by the deadline.
  setTimeout(() => {
    logger.log("error", "Shutdown timed out; exiting", {
      timeout_ms: config.http.shutdown_timeout,
    });
    Deno.exit(1);
  }, config.http.shutdown_timeout);
  // Close subscriptions (they would hold the server open), finish the requests in flight
  // (each waits for its durable ack), then flush and close.
  gateway.subscriptions.closeAll();
  await Promise.all([server.shutdown(), metricsServer?.shutdown()]);
  await gateway.close();
  await tracing.shutdown();
  logger.log("info", "Stopped");
  Deno.exit(0);
};
for (const signal of ["SIGTERM", "SIGINT"] as const) {
  Deno.addSignalListener(signal, () => stop(signal));
}
// Signals are handled from here on, so a SIGTERM right after `/readyz` drains rather than kills.
// At the connection cap for too long, the idle connections are closed (Deno.serve has no idle timeout).
await gateway.connectionCap.start(() => server.recycle("saturated"));

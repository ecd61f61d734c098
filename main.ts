/**
 * Composition root: load settings, build the gateway, serve, drain on signal.
 *
 * @module
 */
import { loadConfig } from "./src/config.ts";
import { ConfigError } from "./src/errors.ts";
import { createGateway } from "./src/gateway.ts";
import { jsonLogger } from "./src/telemetry/logger.ts";

let config;
try {
  config = await loadConfig(Deno.args);
} catch (error) {
  if (!(error instanceof ConfigError)) throw error;
  console.error(`tastesync-gateway: ${error.message}`);
  Deno.exit(2);
}

const logger = jsonLogger(config.log.level);
const gateway = createGateway(config, logger);
const server = Deno.serve({
  hostname: config.http.host,
  port: config.http.port,
  onListen: ({ hostname, port }) =>
    logger.log("info", "Gateway listening", {
      hostname,
      port,
      log: gateway.log.backend,
      bus: gateway.bus.backend,
    }),
}, gateway.app.fetch);

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
  await server.shutdown();
  await gateway.close();
  logger.log("info", "Stopped");
  Deno.exit(0);
};
for (const signal of ["SIGTERM", "SIGINT"] as const) {
  Deno.addSignalListener(signal, () => stop(signal));
}

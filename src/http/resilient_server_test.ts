import assert from "node:assert/strict";
import { Metrics } from "../telemetry/metrics.ts";
import { type ListenOptions, ResilientServer } from "./resilient_server.ts";

const silent = { log: () => {}, enabled: () => false };

/** A stand-in for one `Deno.serve` server whose accept loop the test can fail. */
interface FakeServer {
  options: ListenOptions;
  fail(error: Error): void;
  shutdowns: number;
}

function fakeServe(servers: FakeServer[], port = 4321) {
  return (options: ListenOptions): Deno.HttpServer<Deno.NetAddr> => {
    const { promise: finished, reject, resolve } = Promise.withResolvers<void>();
    const fake: FakeServer = { options, fail: reject, shutdowns: 0 };
    servers.push(fake);
    const addr = { transport: "tcp" as const, hostname: "127.0.0.1", port };
    options.onListen?.(addr);
    return {
      addr,
      finished,
      shutdown: () => {
        fake.shutdowns++;
        resolve();
        return Promise.resolve();
      },
      ref() {},
      unref() {},
      [Symbol.asyncDispose]: () => Promise.resolve(),
    };
  };
}

Deno.test("a failed accept loop is shut down and the listener reopened on the same port", async () => {
  const servers: FakeServer[] = [];
  const metrics = new Metrics();
  let listened = 0;
  const server = new ResilientServer(
    { hostname: "127.0.0.1", port: 0, onListen: () => listened++ },
    () => new Response("ok"),
    { logger: silent, metrics, serve: fakeServe(servers) },
  );
  servers[0].fail(new Error("Too many open files (os error 24)"));
  await waitFor(() => servers.length === 2);
  assert.equal(servers[0].shutdowns, 1, "the failed server is shut down, closing idle connections");
  assert.equal(servers[1].options.port, 4321, "the new listener takes the first one's port");
  assert.equal(listened, 1, "onListen runs for the first listener only");
  assert.match(
    (await metrics.render()).body,
    /tastesync_http_listener_restarts_total\{reason="accept_failed"\} 1/,
  );
  server.recycle("saturated");
  await waitFor(() => servers.length === 3);
  assert.equal(servers[1].shutdowns, 1);
  await server.shutdown();
  assert.equal(servers[2].shutdowns, 1);
});

async function waitFor(condition: () => boolean): Promise<void> {
  while (!condition()) await new Promise((r) => setTimeout(r, 5));
}

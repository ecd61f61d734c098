import assert from "node:assert/strict";
import { healthCommand } from "./health_command.ts";

/** A stand-in gateway: `/healthz` answers 200, `/readyz` 503. */
function fakeGateway(): Deno.HttpServer<Deno.NetAddr> {
  return Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    (req) => new Response(null, { status: new URL(req.url).pathname === "/healthz" ? 200 : 503 }),
  );
}

Deno.test("health: 0 when the path answers 200, 1 otherwise, on the configured port", async () => {
  const server = fakeGateway();
  const env = {
    TASTESYNC_HTTP_PORT: String(server.addr.port),
    TASTESYNC_HTTP_HOST: "0.0.0.0",
    TASTESYNC_AUTH_ALLOW_ANONYMOUS: "true",
  };
  try {
    assert.equal(await healthCommand([], env), 0);
    assert.equal(await healthCommand(["/readyz"], env), 1);
  } finally {
    await server.shutdown();
  }
  assert.equal(await healthCommand([], env), 1, "nothing listens any more");
});

Deno.test("health: 2 for a bad path or bad settings", async () => {
  assert.equal(await healthCommand(["/a b"], { TASTESYNC_HTTP_PORT: "1" }), 2);
  assert.equal(await healthCommand([], { TASTESYNC_HTTP_PORT: "not-a-port" }), 2);
});

Deno.test("health: with HTTPS, 0 while the port accepts connections", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  const env = {
    TASTESYNC_HTTP_PORT: String(port),
    TASTESYNC_HTTP_HOST: "127.0.0.1",
    TASTESYNC_HTTP_TLS_CERT_FILE: "/run/secrets/cert.pem",
    TASTESYNC_HTTP_TLS_KEY_FILE: "/run/secrets/key.pem",
  };
  assert.equal(await healthCommand([], env), 0);
  listener.close();
  assert.equal(await healthCommand([], env), 1);
});

/**
 * Hostile clients against a real gateway process: floods of idle connections,
 * oversized WebSocket frames. The process must live and go on serving.
 */
import assert from "node:assert/strict";
import {
  assertProblem,
  type GatewayProcess,
  identification,
  startGateway,
  subscribeWs,
  waitUntil,
} from "../testing/harness.ts";
import { metric } from "../testing/metrics.ts";
import { waitFor } from "../testing/wait.ts";

/** Resident memory of process `pid`, in bytes (Linux `/proc`). */
async function residentBytes(pid: number): Promise<number> {
  const status = await Deno.readTextFile(`/proc/${pid}/status`);
  return Number(status.match(/^VmRSS:\s+(\d+) kB/m)![1]) * 1024;
}

/** Opens `count` TCP connections to `url` that send nothing; those refused are counted apart. */
async function idleConnections(
  url: string,
  count: number,
): Promise<{ open: Deno.Conn[]; refused: number }> {
  const { hostname, port } = new URL(url);
  const open: Deno.Conn[] = [];
  let refused = 0;
  await Promise.all(Array.from({ length: count }, async () => {
    try {
      open.push(await Deno.connect({ hostname, port: Number(port) }));
    } catch {
      refused++;
    }
  }));
  return { open, refused };
}

/** Connections of `conns` the server has closed (a read ends or fails at once). */
async function closedByServer(conns: Deno.Conn[]): Promise<number> {
  let closed = 0;
  await Promise.all(conns.map(async (conn) => {
    const ended = await Promise.race([
      conn.read(new Uint8Array(1)).then((n) => n === null, () => true),
      new Promise<boolean>((resolve) => setTimeout(() => resolve(false), 500)),
    ]);
    if (ended) closed++;
  }));
  return closed;
}

/** Whether the process has not exited. */
async function alive(gateway: GatewayProcess): Promise<boolean> {
  return await Promise.race([gateway.exited.then(() => false), Promise.resolve(true)]);
}

/** Polls `url` until it answers 200 (the listener may be reopening). */
async function waitServing(url: string): Promise<void> {
  let status = 0;
  await waitFor(async () => {
    status = await fetch(url).then(async (r) => (await r.body?.cancel(), r.status), () => 0);
    return status === 200;
  }, `${url} answers 200 (last: ${status})`);
}

Deno.test("2,000 idle connections with 1,024 open files: the gateway lives, refuses the excess, and serves", async () => {
  const gateway = await startGateway(
    {
      TASTESYNC_DATA_DIR: await Deno.makeTempDir({ prefix: "tastesync-flood-" }),
      // The reopened listener accepts what is left in the kernel's backlog, sometimes up to the
      // cap: then idle connections are closed after this and the gateway serves again.
      TASTESYNC_HTTP_SATURATION_TIMEOUT: "2s",
    },
    { openFilesLimit: 1024 },
  );
  let flood: { open: Deno.Conn[]; refused: number } = { open: [], refused: 0 };
  try {
    flood = await idleConnections(gateway.url, 2000);
    await waitUntil(
      () => gateway.lines.some((l) => l.includes('"HTTP listener reopened"')),
      "the listener is reopened after the accept loop failed",
    );
    assert.ok(await alive(gateway), "the gateway process is alive");
    const closed = await closedByServer(flood.open);
    const stillOpen = flood.open.length - closed;
    assert.ok(
      stillOpen < 1024,
      `the excess is refused: ${flood.refused} refused, ${closed} closed, ${stillOpen} open`,
    );
    await waitServing(`${gateway.url}/healthz`);
    // Until then a request may also be reset (the gateway at its cap closes connections).
    await waitFor(async () => {
      const publish = await gateway.post("/v1/identifications", identification()).catch(() => null);
      await publish?.body?.cancel();
      return publish?.status === 202;
    }, "a publish is accepted once idle connections below the cap are closed");
    assert.ok(
      await metric(gateway.url, "tastesync_http_listener_restarts_total", {
        reason: "accept_failed",
      }) >= 1,
    );
    assert.ok(gateway.lines.some((l) => l.includes('"The HTTP accept loop failed"')));
  } finally {
    for (const conn of flood.open) {
      try {
        conn.close();
      } catch { /* closed by the gateway */ }
    }
    assert.equal(await gateway.stop(), 0);
  }
});

Deno.test("at the connection cap requests get 503, and idle connections are closed after the saturation timeout", async () => {
  const gateway = await startGateway({
    TASTESYNC_DATA_DIR: await Deno.makeTempDir({ prefix: "tastesync-cap-" }),
    TASTESYNC_HTTP_MAX_CONNECTIONS: "20",
    TASTESYNC_HTTP_SATURATION_TIMEOUT: "2s",
  });
  const { open } = await idleConnections(gateway.url, 40);
  try {
    let refused: Response | undefined;
    await waitFor(async () => {
      const res = await fetch(`${gateway.url}/openapi.json`);
      if (res.status === 503) refused = res;
      else await res.body?.cancel();
      return refused !== undefined;
    }, "a request is answered 503 at the cap");
    const body = await assertProblem(refused!, 503);
    assert.equal(body.type, "/docs#problem-overloaded");
    assert.equal(refused!.headers.get("retry-after"), "1");
    const live = await fetch(`${gateway.url}/healthz`);
    assert.equal(live.status, 200, "the liveness probe is answered at the cap");
    await live.body?.cancel();
    await waitUntil(
      () => gateway.lines.some((l) => l.includes('"reason":"saturated"')),
      "the listener is recycled after the saturation timeout",
    );
    await waitServing(`${gateway.url}/openapi.json`);
    assert.ok(await closedByServer(open) >= 20, "the idle connections were closed");
    assert.ok(
      await metric(gateway.url, "tastesync_rate_limited_total", { kind: "connections" }) >= 1,
    );
    assert.ok(
      await metric(gateway.url, "tastesync_http_listener_restarts_total", {
        reason: "saturated",
      }) >= 1,
    );
  } finally {
    for (const conn of open) {
      try {
        conn.close();
      } catch { /* closed by the gateway */ }
    }
    assert.equal(await gateway.stop(), 0);
  }
});

Deno.test("an oversized WebSocket frame is refused without the gateway growing by its size", async () => {
  const gateway = await startGateway({
    TASTESYNC_DATA_DIR: await Deno.makeTempDir({ prefix: "tastesync-frame-" }),
  });
  try {
    const frameBytes = 100 * 1024 * 1024;
    const socket = await subscribeWs(gateway.url, "from=latest");
    const before = await residentBytes(gateway.pid);
    socket.send("x".repeat(frameBytes));
    await socket.closed;
    const grown = (await residentBytes(gateway.pid)) - before;
    assert.ok(grown < frameBytes / 4, `resident memory grew by ${grown} bytes`);
    assert.ok(await alive(gateway));
    await waitServing(`${gateway.url}/healthz`);
  } finally {
    assert.equal(await gateway.stop(), 0);
  }
});

Deno.test("the WebSocket frame limit counts UTF-8 bytes, not UTF-16 units", async () => {
  const gateway = await startGateway({
    TASTESYNC_DATA_DIR: await Deno.makeTempDir({ prefix: "tastesync-frame-" }),
  });
  try {
    const socket = await subscribeWs(gateway.url, "from=latest");
    const text = "€".repeat(1400); // 1,400 units but 4,200 bytes, over the 4,096-byte default
    assert.ok(text.length < 4096);
    socket.send(text);
    const frame = await socket.next();
    assert.equal(frame.type, "error");
    assert.equal(frame.error, "frame-too-large");
    assert.equal((await socket.closed).code, 1009);
  } finally {
    assert.equal(await gateway.stop(), 0);
  }
});

Deno.test("a reconnect storm while the gateway's loop is stopped: the kernel queues all 2,000 connections (http.listen_backlog), none waits for a SYN retry", async () => {
  const gateway = await startGateway({
    TASTESYNC_DATA_DIR: await Deno.makeTempDir({ prefix: "tastesync-storm-" }),
  });
  const { hostname, port } = new URL(gateway.url);
  // The kernel caps the queue at net.core.somaxconn (4096 on Linux since 5.4).
  const somaxconn = Number(await Deno.readTextFile("/proc/sys/net/core/somaxconn"));
  const storm = Math.min(2000, somaxconn);
  const open: Deno.Conn[] = [];
  const connects: Promise<void>[] = [];
  let timer: ReturnType<typeof setTimeout> | undefined;
  // Stopped, the gateway accepts nothing: only the listen queue holds the connections. One that
  // does not fit has its SYN dropped and retried after the kernel's first timeout of 1 s.
  Deno.kill(gateway.pid, "SIGSTOP");
  try {
    for (let i = 0; i < storm; i++) {
      connects.push(Deno.connect({ hostname, port: Number(port) }).then((c) => void open.push(c)));
    }
    await Promise.race([
      Promise.all(connects),
      new Promise((resolve) => timer = setTimeout(resolve, 900)),
    ]);
    clearTimeout(timer);
    assert.equal(open.length, storm, "every connection completed before a SYN retry");
    Deno.kill(gateway.pid, "SIGCONT");
    const publish = await gateway.post("/v1/identifications", identification());
    assert.equal(publish.status, 202);
    await publish.body?.cancel();
  } finally {
    clearTimeout(timer);
    Deno.kill(gateway.pid, "SIGCONT");
    await Promise.allSettled(connects);
    for (const conn of open) conn.close();
    assert.equal(await gateway.stop(), 0);
  }
});

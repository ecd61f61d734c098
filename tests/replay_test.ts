/**
 * Flow control of subscriptions, end to end: a backlog replays whole at the
 * client's pace over WebSocket, Server-Sent Events and a new group (on both
 * backends); a durable client that stops reading is disconnected after the
 * stall timeout, and really leaves; the live lane still disconnects on
 * overflow.
 */
import assert from "node:assert/strict";
import { BACKENDS } from "../testing/backends.ts";
import {
  type GatewayProcess,
  identification,
  startGateway,
  subscribeSse,
  subscribeWs,
  uniqueTopic,
  waitUntil,
} from "../testing/harness.ts";

const BACKLOG = 5_000;
/** The stall timeout of the stall tests: short, so they run quickly. */
const STALL_TIMEOUT = "1s";
/** How soon after the slow-consumer decision the connection must be gone. */
const CLOSED_WITHIN_MS = 5_000;

/** Where each published event landed: partition and offset, by event id. */
type Positions = Map<string, { partition: number; offset: bigint }>;

/** Publishes `count` events (50 customers, so every partition gets some) in batches of 500. */
async function publishBacklog(gateway: GatewayProcess, count: number): Promise<Positions> {
  const run = crypto.randomUUID().slice(0, 8);
  const positions: Positions = new Map();
  for (let from = 0; from < count; from += 500) {
    const events = Array.from({ length: Math.min(500, count - from) }, (_, j) => ({
      event_id: `bl-${run}-${from + j}`,
      event_type: "CustomerIdentified",
      version: "v1",
      data: identification({ customer_id: `c${(from + j) % 50}` }),
    }));
    let res = await gateway.post("/v1/events/batch", { events });
    while (res.status === 429) {
      // The publish rate limit (a loop of these outruns it): wait as told, as a client would.
      await res.body?.cancel();
      await new Promise((r) => setTimeout(r, 1000 * Number(res.headers.get("retry-after") ?? 1)));
      res = await gateway.post("/v1/events/batch", { events });
    }
    const body = await res.json();
    assert.equal(res.status, 200, JSON.stringify(body));
    for (const result of body.results) {
      assert.equal(result.status, 202, JSON.stringify(result));
      positions.set(result.event_id, {
        partition: result.partition,
        offset: BigInt(result.offset),
      });
    }
  }
  return positions;
}

/** Asserts `received` (event ids in arrival order) is every published event once, in order per partition. */
function assertWholeAndOrdered(received: string[], positions: Positions): void {
  assert.equal(new Set(received).size, received.length, "no event arrived twice");
  assert.deepEqual([...received].sort(), [...positions.keys()].sort(), "every event arrived");
  const last = new Map<number, bigint>();
  for (const id of received) {
    const { partition, offset } = positions.get(id)!;
    assert.ok(
      offset > (last.get(partition) ?? -1n),
      `partition ${partition}: offset ${offset} after ${last.get(partition)}`,
    );
    last.set(partition, offset);
  }
}

/** The value of metric `name` with exactly `labels`, from the gateway's `/metrics`. */
async function metric(
  gateway: GatewayProcess,
  name: string,
  labels: Record<string, string>,
): Promise<number> {
  const text = await (await fetch(`${gateway.url}/metrics`)).text();
  const wanted = Object.entries(labels).map(([k, v]) => `${k}="${v}"`).sort().join(",");
  for (const line of text.split("\n")) {
    const match = line.match(/^(\w+)\{([^}]*)\} (\S+)$/);
    if (match?.[1] === name && match[2].split(",").sort().join(",") === wanted) {
      return Number(match[3]);
    }
  }
  return 0;
}

/** Waits until metric `name` with `labels` is `value`. */
async function waitForMetric(
  gateway: GatewayProcess,
  name: string,
  labels: Record<string, string>,
  value: number,
): Promise<void> {
  const deadline = Date.now() + 15_000;
  while (await metric(gateway, name, labels) !== value) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${name} is ${value}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Resolves once the gateway logged a slow-consumer disconnect for `why`, with the time it did. */
async function slowConsumerDecision(gateway: GatewayProcess, why: string): Promise<number> {
  await waitUntil(
    () => gateway.lines.some((l) => l.includes("Slow consumer disconnected") && l.includes(why)),
    `a slow consumer was disconnected (${why})`,
    60_000,
  );
  return Date.now();
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/**
 * A client that opens its connection and then reads nothing until `wake`: its
 * TCP window fills, and the gateway's writes to it block.
 */
class StalledClient {
  readonly #conn: Deno.Conn;
  /** Bytes received after the HTTP response head. */
  #pending: Uint8Array;

  private constructor(conn: Deno.Conn, pending: Uint8Array) {
    this.#conn = conn;
    this.#pending = pending;
  }

  /** Opens `/v1/subscribe?query` as a WebSocket, reads the `101`, then stops reading. */
  static webSocket(url: string, query: string): Promise<StalledClient> {
    return StalledClient.#open(
      url,
      `GET /v1/subscribe?${query} HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n",
      /^HTTP\/1.1 101/,
    );
  }

  /** Opens `/v1/stream?query`, reads the `200` head, then stops reading. */
  static stream(url: string, query: string): Promise<StalledClient> {
    return StalledClient.#open(url, `GET /v1/stream?${query} HTTP/1.1\r\n`, /^HTTP\/1.1 200/);
  }

  static async #open(url: string, request: string, status: RegExp): Promise<StalledClient> {
    const { hostname, port } = new URL(url);
    const conn = await Deno.connect({ hostname, port: Number(port) });
    await conn.write(encoder.encode(`${request}Host: ${hostname}:${port}\r\n\r\n`));
    let head: Uint8Array = new Uint8Array(0);
    for (;;) {
      const chunk = new Uint8Array(4096);
      const n = await conn.read(chunk);
      if (n === null) throw new Error("the gateway closed the connection during the handshake");
      head = concat(head, chunk.subarray(0, n));
      const end = decoder.decode(head).indexOf("\r\n\r\n");
      if (end >= 0) {
        assert.match(decoder.decode(head), status);
        return new StalledClient(conn, head.subarray(end + 4));
      }
    }
  }

  /**
   * Reads what the gateway sent as WebSocket frames, answering its close frame
   * (as every WebSocket client does), until the connection ends; resolves with
   * the text frames and the close code.
   */
  async readWebSocket(): Promise<{ texts: string[]; closeCode?: number }> {
    const texts: string[] = [];
    let closeCode: number | undefined;
    let buffer = this.#pending;
    for await (const chunk of this.#chunks()) {
      buffer = concat(buffer, chunk);
      for (;;) {
        const frame = parseFrame(buffer);
        if (!frame) break;
        buffer = buffer.subarray(frame.length);
        if (frame.opcode === 1) texts.push(decoder.decode(frame.payload));
        if (frame.opcode === 8 && closeCode === undefined) {
          closeCode = (frame.payload[0] << 8) | frame.payload[1];
          await this.#conn.write(maskedClose(frame.payload.subarray(0, 2)));
        }
      }
    }
    return { texts, closeCode };
  }

  /**
   * Reads what the gateway sent on the stream until the connection ends, the
   * response does, or `enough` says so.
   */
  async readStream(enough: (text: string) => boolean = () => false): Promise<string> {
    let text = decoder.decode(this.#pending);
    for await (const chunk of this.#chunks()) {
      text += decoder.decode(chunk);
      // The last chunk of a chunked response ends the response; the connection may stay open.
      if (text.endsWith("\r\n0\r\n\r\n") || enough(text)) break;
    }
    return text;
  }

  /** Closes the connection (if the gateway has not). */
  close(): void {
    try {
      this.#conn.close();
    } catch { /* already closed */ }
  }

  /** What arrives until the connection ends; throws if it stays open and quiet. */
  async *#chunks(): AsyncGenerator<Uint8Array> {
    const chunk = new Uint8Array(256 * 1024);
    for (;;) {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const quiet = new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new Error(`the connection is still open after ${CLOSED_WITHIN_MS} ms`)),
          CLOSED_WITHIN_MS,
        );
      });
      const n = await Promise.race([this.#conn.read(chunk).catch(() => null), quiet])
        .finally(() => clearTimeout(timer));
      if (n === null) return;
      yield chunk.slice(0, n);
    }
  }
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

/** One unmasked (server) WebSocket frame at the start of `bytes`, if it is all there. */
function parseFrame(
  bytes: Uint8Array,
): { opcode: number; payload: Uint8Array; length: number } | undefined {
  if (bytes.length < 2) return undefined;
  let size = bytes[1] & 0x7f;
  let at = 2;
  if (size === 126) {
    if (bytes.length < 4) return undefined;
    size = (bytes[2] << 8) | bytes[3];
    at = 4;
  } else if (size === 127) {
    if (bytes.length < 10) return undefined;
    size = Number(new DataView(bytes.buffer, bytes.byteOffset + 2, 8).getBigUint64(0));
    at = 10;
  }
  if (bytes.length < at + size) return undefined;
  return { opcode: bytes[0] & 0x0f, payload: bytes.subarray(at, at + size), length: at + size };
}

/** A client close frame (masked, as clients must) echoing `code`. */
function maskedClose(code: Uint8Array): Uint8Array {
  const mask = crypto.getRandomValues(new Uint8Array(4));
  return new Uint8Array([0x88, 0x80 | code.length, ...mask, ...code.map((b, i) => b ^ mask[i])]);
}

for (const backend of BACKENDS) {
  const test = (name: string, fn: (env: Record<string, string>) => Promise<void>) =>
    Deno.test(`${backend.name}: ${name}`, async () => fn(await backend.env()));

  test(`a ${BACKLOG}-event backlog replays whole over WebSocket from=earliest`, async (env) => {
    const gateway = await startGateway(env);
    try {
      const positions = await publishBacklog(gateway, BACKLOG);
      const ws = await subscribeWs(gateway.url, "from=earliest");
      const frames = await ws.events(BACKLOG, 60_000);
      assertWholeAndOrdered(frames.map((f) => f.event.event_id), positions);
      assert.deepEqual(ws.drain(), [], "no error frame, nothing more");
      assert.ok(!gateway.lines.some((l) => l.includes("Slow consumer disconnected")));
      await ws.close();
    } finally {
      await gateway.stop();
    }
  });

  test(`a ${BACKLOG}-event backlog replays whole over SSE from=earliest`, async (env) => {
    const gateway = await startGateway(env);
    try {
      const positions = await publishBacklog(gateway, BACKLOG);
      const stream = await subscribeSse(gateway.url, "from=earliest");
      const events = await stream.events(BACKLOG, 60_000);
      assert.ok(events.every((e) => e.event === "CustomerIdentified"), "no error event");
      assertWholeAndOrdered(events.map((e) => e.data.event_id), positions);
      assert.ok(!gateway.lines.some((l) => l.includes("Slow consumer disconnected")));
      await stream.close();
    } finally {
      await gateway.stop();
    }
  });

  test(`a new group from=earliest acking every event gets the whole ${BACKLOG}-event backlog`, async (env) => {
    const gateway = await startGateway(env);
    try {
      const positions = await publishBacklog(gateway, BACKLOG);
      const ws = await subscribeWs(gateway.url, `group=${uniqueTopic("replay")}&from=earliest`);
      const received: string[] = [];
      while (received.length < BACKLOG) {
        const [frame] = await ws.events(1, 60_000);
        received.push(frame.event.event_id);
        ws.send({ type: "ack", cursor: frame.cursor });
      }
      assertWholeAndOrdered(received, positions);
      assert.deepEqual(ws.drain(), [], "no redelivery, no error frame");
      assert.ok(!gateway.lines.some((l) => l.includes("Slow consumer disconnected")));
      await ws.close();
    } finally {
      await gateway.stop();
    }
  });
}

/**
 * Enough events that a client reading nothing fills the TCP buffers on both
 * sides (several MiB on loopback) and then the gateway's own queue.
 */
const STALL_BACKLOG = 20_000;

Deno.test("embedded: a WebSocket client that reads nothing is closed with 4429 after the stall timeout, and leaves", async () => {
  const env = await BACKENDS[0].env();
  const gateway = await startGateway({
    ...env,
    TASTESYNC_SUBSCRIPTIONS_STALL_TIMEOUT: STALL_TIMEOUT,
  });
  const labels = { mode: "durable", transport: "websocket" };
  let stalled: StalledClient | undefined;
  try {
    await publishBacklog(gateway, STALL_BACKLOG);
    stalled = await StalledClient.webSocket(gateway.url, "from=earliest");
    await waitForMetric(gateway, "tastesync_subscribers", labels, 1);
    const decided = await slowConsumerDecision(gateway, "stalled");
    // The gateway let go at once, without waiting for the client.
    assert.equal(await metric(gateway, "tastesync_subscribers", labels), 0);
    assert.equal(
      await metric(gateway, "tastesync_slow_consumer_disconnects_total", {
        transport: "websocket",
      }),
      1,
    );
    // The client wakes up: it gets what was under way, the error frame and the close frame.
    const { texts, closeCode } = await stalled.readWebSocket();
    const closedAfterMs = Date.now() - decided;
    assert.equal(closeCode, 4429);
    const error = JSON.parse(texts.at(-1)!);
    assert.equal(error.type, "error");
    assert.equal(error.error, "slow-consumer");
    assert.match(error.detail, /read nothing for 1 s/);
    const events = texts.filter((t) => t.startsWith('{"type":"event"')).length;
    assert.ok(events < STALL_BACKLOG, `the stalled client got ${events} events, not the backlog`);
    assert.ok(
      closedAfterMs <= CLOSED_WITHIN_MS,
      `the connection closed ${closedAfterMs} ms after the decision`,
    );
  } finally {
    stalled?.close();
    await gateway.stop();
  }
});

Deno.test("embedded: an SSE client that reads nothing gets slow-consumer after the stall timeout, and its stream ends", async () => {
  const env = await BACKENDS[0].env();
  const gateway = await startGateway({
    ...env,
    TASTESYNC_SUBSCRIPTIONS_STALL_TIMEOUT: STALL_TIMEOUT,
  });
  const labels = { mode: "durable", transport: "sse" };
  let stalled: StalledClient | undefined;
  try {
    await publishBacklog(gateway, STALL_BACKLOG);
    stalled = await StalledClient.stream(gateway.url, "from=earliest");
    await waitForMetric(gateway, "tastesync_subscribers", labels, 1);
    const decided = await slowConsumerDecision(gateway, "stalled");
    assert.equal(await metric(gateway, "tastesync_subscribers", labels), 0);
    const text = await stalled.readStream();
    const endedAfterMs = Date.now() - decided;
    assert.match(text, /event: error\ndata: \{"type":"error","error":"slow-consumer"/);
    assert.ok(text.endsWith("\r\n0\r\n\r\n"), "the response ended");
    assert.ok(endedAfterMs <= CLOSED_WITHIN_MS, `the stream ended ${endedAfterMs} ms after`);
  } finally {
    stalled?.close();
    await gateway.stop();
  }
});

Deno.test("embedded: a stalled from=latest client never holds the shared feed back: it goes on alone, and misses nothing", async () => {
  const env = await BACKENDS[0].env();
  // A stall timeout far beyond the test: only leaving it behind can keep the others going.
  const gateway = await startGateway({ ...env, TASTESYNC_SUBSCRIPTIONS_STALL_TIMEOUT: "10m" });
  const stalled = await StalledClient.stream(gateway.url, "");
  try {
    const fast = await subscribeWs(gateway.url);
    const sent = new Set<string>();
    const leftBehind = () =>
      gateway.lines.some((l) => l.includes("goes on with a reader of its own"));
    while (!leftBehind()) {
      for (const id of (await publishBacklog(gateway, 500)).keys()) sent.add(id);
      assert.ok(sent.size <= 100_000, "the stalled client was never left behind");
    }
    for (const id of (await publishBacklog(gateway, 500)).keys()) sent.add(id);
    await waitUntil(
      () => fast.seen.length >= sent.size,
      `the fast subscriber got all ${sent.size} events, the stalled one reading none`,
      60_000,
    );
    assert.deepEqual(new Set(fast.seen.map((f) => f.event.event_id)), sent);
    await fast.close();

    // Once it reads, it gets every event once, in order per partition, from its own reader.
    const eventIds = (text: string) => [...text.matchAll(/"event_id":"([^"]+)"/g)].map((m) => m[1]);
    const text = await stalled.readStream((t) => eventIds(t).length >= sent.size);
    const received = eventIds(text);
    assert.equal(received.length, sent.size, "each event once");
    assert.deepEqual(new Set(received), sent);
  } finally {
    stalled.close();
    await gateway.stop();
  }
});

Deno.test("embedded: on the live lane a client that reads nothing overflows its queue and is disconnected", async () => {
  const env = await BACKENDS[0].env();
  const gateway = await startGateway(env);
  const stalled = await StalledClient.webSocket(gateway.url, "mode=live");
  try {
    const fast = await subscribeWs(gateway.url, "mode=live");
    let sent = 0;
    while (!gateway.lines.some((l) => l.includes("Slow consumer disconnected"))) {
      sent += (await publishBacklog(gateway, 500)).size;
      assert.ok(sent <= 100_000, "the stalled socket was never disconnected");
    }
    assert.ok(gateway.lines.some((l) => l.includes('"why":"overflow"')));
    assert.equal(
      await metric(gateway, "tastesync_subscribers", { mode: "live", transport: "websocket" }),
      1,
      "only the fast subscriber is left",
    );
    await waitUntil(
      () => fast.seen.length >= sent,
      `the fast subscriber got all ${sent} events`,
      60_000,
    );
    await fast.close();
  } finally {
    stalled.close();
    await gateway.stop();
  }
});

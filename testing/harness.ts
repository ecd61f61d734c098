/**
 * Test harness: starts the gateway as a real process (the way users run it),
 * and gives tests real Kafka and NATS clients to check what it did.
 *
 * @module
 */
import assert from "node:assert/strict";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { Kafka, type KafkaConfig, type KafkaMessage, logLevel } from "kafkajs";
import "./kafkajs_patch.ts";
import { CommittedMessages } from "./committed_messages.ts";
import { CUSTOMER_IDENTIFIED } from "../src/events/customer_identified.ts";

/** Kafka bootstrap address of the test broker (`deploy/local/services.sh`). */
export const KAFKA_BROKERS = Deno.env.get("TASTESYNC_TEST_KAFKA_BROKERS") ?? "127.0.0.1:9092";
/** NATS URL of the test server. */
export const NATS_URL = Deno.env.get("TASTESYNC_TEST_NATS_URL") ?? "nats://127.0.0.1:4222";

const ROOT = new URL("..", import.meta.url).pathname;

/** A `CustomerIdentified` v1 body with overrides. */
export function identification(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return { ...structuredClone(CUSTOMER_IDENTIFIED.versions.v1.example), ...overrides };
}

/** A unique topic name, so tests never see each other's records. */
export function uniqueTopic(prefix = "it"): string {
  return `${prefix}-${crypto.randomUUID().slice(0, 8)}`;
}

/** A running gateway process. */
export interface GatewayProcess {
  /** Base URL, e.g. `http://127.0.0.1:40123`. */
  url: string;
  /** Every log line printed so far. */
  lines: string[];
  /** Process id. */
  pid: number;
  /** POSTs JSON to `path`. */
  post(path: string, body: unknown, headers?: Record<string, string>): Promise<Response>;
  /** Sends `signal` and waits for the exit code. */
  stop(signal?: Deno.Signal): Promise<number>;
  /** Resolves with the exit code once the process has exited, for whatever reason. */
  exited: Promise<number>;
}

/**
 * Runs `main.ts` (or `entry`) with `env` and waits until it listens; `ready` also waits for
 * `/readyz`. `cwd` runs another checkout of the gateway (default: this one);
 * `openFilesLimit` sets its limit on open files (`ulimit -n`); `denoFlags` go to
 * `deno run` (e.g. `--inspect=127.0.0.1:9229`).
 */
export async function startGateway(
  env: Record<string, string>,
  {
    ready = true,
    entry = "main.ts",
    args = [] as string[],
    cwd = ROOT,
    openFilesLimit = undefined as number | undefined,
    denoFlags = [] as string[],
  } = {},
): Promise<GatewayProcess> {
  const denoArgs = [
    "run",
    "-A",
    ...(entry.endsWith(".ts") ? ["--frozen"] : []),
    ...denoFlags,
    entry,
    ...args,
  ];
  // A shell sets the limit, then becomes the gateway (same pid). Soft and hard: Deno raises
  // its soft limit to the hard one at start.
  const [command, commandArgs] = openFilesLimit === undefined
    ? [Deno.execPath(), denoArgs]
    : ["bash", [
      "-c",
      `ulimit -n ${openFilesLimit} && exec "$0" "$@"`,
      Deno.execPath(),
      ...denoArgs,
    ]];
  const child = new Deno.Command(command, {
    args: commandArgs,
    cwd,
    env: {
      TASTESYNC_HTTP_PORT: "0",
      TASTESYNC_HTTP_HOST: "127.0.0.1",
      TASTESYNC_LOG_LEVEL: "info",
      ...env,
    },
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const lines: string[] = [];
  const { promise: port, resolve: listening } = Promise.withResolvers<number>();
  const reading = (async () => {
    const decoder = new TextDecoderStream();
    let buffer = "";
    for await (const chunk of child.stderr.pipeThrough(decoder)) {
      buffer += chunk;
      let nl;
      while ((nl = buffer.indexOf("\n")) >= 0) {
        const line = buffer.slice(0, nl);
        buffer = buffer.slice(nl + 1);
        lines.push(line);
        if (line.includes('"Gateway listening"')) listening(JSON.parse(line).port);
      }
    }
  })();
  const exited = child.status.then(async (s) => {
    await reading;
    return s.code;
  });
  const first = await Promise.race([port, exited.then((code) => ({ code }))]);
  if (typeof first !== "number") {
    throw new Error(`gateway exited with ${first.code}:\n${lines.join("\n")}`);
  }
  const url = `http://127.0.0.1:${first}`;
  const gateway: GatewayProcess = {
    url,
    lines,
    pid: child.pid,
    post: (path, body, headers = {}) =>
      fetch(url + path, {
        method: "POST",
        headers: { "content-type": "application/json", ...headers },
        body: typeof body === "string" ? body : JSON.stringify(body),
      }),
    async stop(signal = "SIGTERM") {
      try {
        child.kill(signal);
      } catch { /* already gone */ }
      return await exited;
    },
    exited,
  };
  if (ready) await waitReady(url);
  return gateway;
}

/** Readiness of the gateway as `/readyz` reports it. */
export type Readiness = "ready" | "degraded" | "unavailable";

/**
 * Waits until `/readyz` reports `want` (polling the gateway's own probe), and returns its body.
 * `client` reaches an HTTPS gateway whose CA the system does not trust.
 */
export async function waitReady(
  url: string,
  want: Readiness | "ready-or-degraded" = "ready-or-degraded",
  timeoutMs = 60_000,
  client?: Deno.HttpClient,
  // deno-lint-ignore no-explicit-any
): Promise<any> {
  const deadline = Date.now() + timeoutMs;
  let last: { status?: string } | undefined;
  while (Date.now() < deadline) {
    const res = await fetch(`${url}/readyz`, { client }).catch(() => undefined);
    if (res) {
      last = await res.json();
      const ok = want === "ready-or-degraded" ? res.status === 200 : last?.status === want;
      if (ok) return last;
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`/readyz never reported ${want}: ${JSON.stringify(last)}`);
}

/**
 * Reads `topic` from the beginning until `until` holds for what was read;
 * `connection` reaches other brokers (a login, TLS) than the test broker.
 */
export async function readTopic(
  topic: string,
  until: (messages: (KafkaMessage & { partition: number })[]) => boolean,
  timeoutMs = 30_000,
  connection: Partial<KafkaConfig> = {},
): Promise<(KafkaMessage & { partition: number })[]> {
  const kafka = new Kafka({
    clientId: "it-reader",
    brokers: KAFKA_BROKERS.split(","),
    logLevel: logLevel.NOTHING,
    ...connection,
  });
  const consumer = kafka.consumer({
    groupId: `it-reader-${crypto.randomUUID()}`,
    maxWaitTimeInMs: 100,
  });
  const messages: (KafkaMessage & { partition: number })[] = [];
  const { promise: finished, resolve: done } = Promise.withResolvers<void>();
  await consumer.connect();
  try {
    await consumer.subscribe({ topic, fromBeginning: true });
    const committed = new CommittedMessages();
    await consumer.run({
      autoCommit: false,
      eachBatch: ({ batch }) => {
        for (const message of committed.take(batch)) {
          messages.push({ ...message, partition: batch.partition });
        }
        if (until(messages)) done();
        return Promise.resolve();
      },
    });
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([
      finished,
      new Promise((_, reject) => {
        timer = setTimeout(
          () => reject(new Error(`timed out reading ${topic}: ${messages.length} read`)),
          timeoutMs,
        );
      }),
    ]).finally(() => clearTimeout(timer));
    return messages;
  } finally {
    await consumer.disconnect();
  }
}

/** Event ids of records read from Kafka, in read order. */
export function eventIds(messages: KafkaMessage[]): string[] {
  return messages.map((m) => JSON.parse(m.value!.toString()).event_id);
}

/** Connects a NATS client to the test server. */
export function natsClient(): Promise<NatsConnection> {
  return connect({ servers: NATS_URL });
}

/** Runs `deploy/local/services.sh` with `command` (e.g. `stop-kafka`); returns its stdout. */
export async function services(command: string, ...args: string[]): Promise<string> {
  const out = await new Deno.Command("bash", {
    args: [`${ROOT}deploy/local/services.sh`, command, ...args],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
  assert.equal(out.code, 0, `services.sh ${command} failed:\n${text}`);
  return new TextDecoder().decode(out.stdout);
}

/** Asserts `res` is problem+json with `status`, and returns the body. */
export async function assertProblem(
  res: Response,
  status: number,
): Promise<Record<string, unknown>> {
  const body = await res.json();
  assert.equal(res.status, status, JSON.stringify(body));
  assert.equal(res.headers.get("content-type"), "application/problem+json");
  assert.equal(body.status, status);
  return body;
}

/** A frame or SSE event received by a test client. */
// deno-lint-ignore no-explicit-any
export type Frame = Record<string, any>;

/** Messages in arrival order, awaited one at a time. */
class Inbox<T> {
  readonly #items: T[] = [];
  readonly #waiters: ((item: T) => void)[] = [];

  push(item: T): void {
    const waiter = this.#waiters.shift();
    if (waiter) waiter(item);
    else this.#items.push(item);
  }

  next(timeoutMs: number, what: string): Promise<T> {
    const item = this.#items.shift();
    if (item !== undefined) return Promise.resolve(item);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiters.splice(this.#waiters.indexOf(waiter), 1);
        reject(new Error(`timed out waiting for ${what}`));
      }, timeoutMs);
      const waiter = (value: T) => {
        clearTimeout(timer);
        resolve(value);
      };
      this.#waiters.push(waiter);
    });
  }

  /** Items received and not taken yet. */
  drain(): T[] {
    return this.#items.splice(0);
  }
}

/** A test WebSocket client of `/v1/subscribe`. */
export interface SocketClient {
  /** The next frame, skipping heartbeats. */
  next(timeoutMs?: number): Promise<Frame>;
  /** The next `n` event frames. */
  events(n: number, timeoutMs?: number): Promise<Frame[]>;
  /** Frames received and not taken yet. */
  drain(): Frame[];
  /** Sends a frame (an object is sent as JSON). */
  send(frame: unknown): void;
  /** Closes the socket and waits until it is closed. */
  close(): Promise<void>;
  /** Resolves with the close code and reason. */
  closed: Promise<{ code: number; reason: string }>;
  /** Every event frame received so far, taken or not. */
  seen: Frame[];
  /** Cursors of the `acked` frames received so far (groups confirm committed acks). */
  acked: string[];
}

/** Waits until `condition` holds, checking every 20 ms. */
export async function waitUntil(
  condition: () => boolean,
  what: string,
  timeoutMs = 15_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/**
 * Opens `/v1/subscribe?query` (offering the WebSocket subprotocols `protocols`) and waits for its
 * `ready` frame (unless `ready` is false).
 */
export async function subscribeWs(
  url: string,
  query = "",
  { ready = true, protocols = [] as string[] } = {},
): Promise<SocketClient> {
  const ws = new WebSocket(`${url.replace("http", "ws")}/v1/subscribe?${query}`, protocols);
  const inbox = new Inbox<Frame>();
  const seen: Frame[] = [];
  const acked: string[] = [];
  const closed = new Promise<{ code: number; reason: string }>((resolve) => {
    ws.onclose = (e) => resolve({ code: e.code, reason: e.reason });
  });
  ws.onmessage = (e) => {
    const frame = JSON.parse(e.data);
    if (frame.type === "event") seen.push(frame);
    if (frame.type === "acked") acked.push(frame.cursor);
    else if (frame.type !== "heartbeat") inbox.push(frame);
  };
  await new Promise<void>((resolve, reject) => {
    ws.onopen = () => resolve();
    ws.onerror = () => reject(new Error("WebSocket failed to open"));
  });
  const client: SocketClient = {
    next: (timeoutMs = 15_000) => inbox.next(timeoutMs, "a frame"),
    async events(n, timeoutMs = 15_000) {
      const got: Frame[] = [];
      while (got.length < n) {
        const frame = await inbox.next(timeoutMs, `event ${got.length + 1} of ${n}`);
        if (frame.type !== "event") {
          throw new Error(`expected an event, got ${JSON.stringify(frame)}`);
        }
        got.push(frame);
      }
      return got;
    },
    drain: () => inbox.drain(),
    send: (frame) => ws.send(typeof frame === "string" ? frame : JSON.stringify(frame)),
    async close() {
      if (ws.readyState === WebSocket.OPEN || ws.readyState === WebSocket.CONNECTING) ws.close();
      await closed;
    },
    closed,
    seen,
    acked,
  };
  if (ready) {
    const first = await client.next();
    if (first.type !== "ready") throw new Error(`expected ready, got ${JSON.stringify(first)}`);
  }
  return client;
}

/** A test client of `/v1/stream` (Server-Sent Events). */
export interface StreamClient {
  /** The `ready` event's data. */
  ready: Frame;
  /** The next `n` events as `{id, event, data}`. */
  events(n: number, timeoutMs?: number): Promise<{ id?: string; event: string; data: Frame }[]>;
  /** The `retry:` value the gateway sent. */
  retry?: number;
  /** Stops reading. */
  close(): Promise<void>;
}

/**
 * Opens `/v1/stream?query` (with optional headers) and waits for its `ready` event;
 * `client` reaches an HTTPS gateway whose CA the system does not trust.
 */
export async function subscribeSse(
  url: string,
  query = "",
  headers: Record<string, string> = {},
  client?: Deno.HttpClient,
): Promise<StreamClient> {
  const controller = new AbortController();
  const res = await fetch(`${url}/v1/stream?${query}`, {
    headers,
    signal: controller.signal,
    client,
  });
  if (res.status !== 200) throw new Error(`stream answered ${res.status}: ${await res.text()}`);
  const inbox = new Inbox<{ id?: string; event: string; data: Frame }>();
  let retry: number | undefined;
  const reading = (async () => {
    let buffer = "";
    try {
      for await (const chunk of res.body!.pipeThrough(new TextDecoderStream())) {
        buffer += chunk;
        let end;
        while ((end = buffer.indexOf("\n\n")) >= 0) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const fields: Record<string, string> = {};
          for (const line of block.split("\n")) {
            if (line.startsWith(":")) continue;
            const at = line.indexOf(": ");
            if (at > 0) fields[line.slice(0, at)] = line.slice(at + 2);
          }
          if (fields.retry) retry = Number(fields.retry);
          if (fields.data) {
            inbox.push({
              id: fields.id,
              event: fields.event ?? "message",
              data: JSON.parse(fields.data),
            });
          }
        }
      }
    } catch { /* aborted */ }
  })();
  const first = await inbox.next(15_000, "the ready event");
  if (first.event !== "ready") throw new Error(`expected ready, got ${JSON.stringify(first)}`);
  return {
    ready: first.data,
    get retry() {
      return retry;
    },
    async events(n, timeoutMs = 15_000) {
      const got = [];
      while (got.length < n) {
        got.push(await inbox.next(timeoutMs, `event ${got.length + 1} of ${n}`));
      }
      return got;
    },
    async close() {
      controller.abort();
      await reading;
    },
  };
}

/**
 * One share of the fan-out benchmark's subscribers, in a Worker of its own
 * (see `fanOut` in `bench/subscribe.ts`). Each subscriber is a plain TCP
 * connection that upgrades to a WebSocket and counts the event frames in the
 * bytes it reads, without decoding a message: the runtime's `WebSocket`
 * dispatches one event per message, about 9 µs each, and one thread doing
 * that for 1,000 sockets was the bottleneck of the benchmark, with the
 * gateway 61% idle.
 *
 * Messages in: `{url, sockets, want}` (open `sockets` durable subscriptions
 * on the gateway at `url`; each is to receive `want` events). Messages out:
 * `{type: "ready"}` once every socket had its `ready` frame, then
 * `{type: "done"}` once every socket received its `want` events;
 * `{type: "error", message}` when a subscription failed.
 *
 * @module
 */

/** What the benchmark asks a worker to do. */
export interface FanOutShare {
  /** The gateway's base URL. */
  url: string;
  /** Subscriptions this worker opens. */
  sockets: number;
  /** Events each subscription is to receive. */
  want: number;
}

/** Sockets opened at once. */
const OPEN_AT_ONCE = 100;
/** Bytes read at a time. */
const READ_BYTES = 64 * 1024;
/** How an event frame's payload starts, and a ready frame's. */
const EVENT = new TextEncoder().encode('{"type":"event"');
const READY = new TextEncoder().encode('{"type":"ready"');

const self = globalThis as unknown as {
  onmessage: (e: MessageEvent<FanOutShare>) => void;
  postMessage: (message: unknown) => void;
};

function startsWith(bytes: Uint8Array, at: number, prefix: Uint8Array): boolean {
  if (at + prefix.length > bytes.length) return false;
  for (let i = 0; i < prefix.length; i++) if (bytes[at + i] !== prefix[i]) return false;
  return true;
}

/** The server's frames in `bytes` from `at`: counts, and where the first incomplete one starts. */
function scanFrames(
  bytes: Uint8Array,
  at: number,
  onFrame: (payloadAt: number) => void,
): number {
  for (;;) {
    if (at + 2 > bytes.length) return at;
    let length = bytes[at + 1] & 0x7f;
    let header = 2;
    if (length === 126) {
      if (at + 4 > bytes.length) return at;
      length = (bytes[at + 2] << 8) | bytes[at + 3];
      header = 4;
    } else if (length === 127) {
      if (at + 10 > bytes.length) return at;
      length = Number(new DataView(bytes.buffer, bytes.byteOffset + at + 2, 8).getBigUint64(0));
      header = 10;
    }
    if (at + header + length > bytes.length) return at;
    onFrame(at + header);
    at += header + length;
  }
}

/**
 * Subscribes over a raw connection; resolves at the `ready` frame, then
 * counts event frames. A connection that fails later is reported to `onError`.
 */
async function subscribe(
  url: string,
  onEvent: () => void,
  onError: (error: Error) => void,
): Promise<void> {
  const { hostname, port } = new URL(url);
  const conn = await Deno.connect({ hostname, port: Number(port) });
  const key = btoa(String.fromCharCode(...crypto.getRandomValues(new Uint8Array(16))));
  await conn.write(
    new TextEncoder().encode(
      `GET /v1/subscribe HTTP/1.1\r\nHost: ${hostname}:${port}\r\nUpgrade: websocket\r\n` +
        `Connection: Upgrade\r\nSec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
    ),
  );
  const ready = Promise.withResolvers<void>();
  let pending = new Uint8Array(0);
  let upgraded = false;
  (async () => {
    const chunk = new Uint8Array(READ_BYTES);
    for (;;) {
      const n = await conn.read(chunk);
      if (n === null) throw new Error("the gateway closed a subscription");
      let bytes = chunk.subarray(0, n);
      if (pending.length > 0) {
        const joined = new Uint8Array(pending.length + n);
        joined.set(pending);
        joined.set(bytes, pending.length);
        bytes = joined;
      }
      let at = 0;
      if (!upgraded) {
        const text = new TextDecoder().decode(bytes);
        const end = text.indexOf("\r\n\r\n");
        if (end < 0) {
          pending = bytes.slice();
          continue;
        }
        if (!text.startsWith("HTTP/1.1 101")) {
          throw new Error(`no upgrade: ${text.split("\r\n")[0]}`);
        }
        upgraded = true;
        at = end + 4;
      }
      const rest = scanFrames(bytes, at, (payload) => {
        if (startsWith(bytes, payload, EVENT)) onEvent();
        else if (startsWith(bytes, payload, READY)) ready.resolve();
      });
      pending = bytes.slice(rest);
    }
  })().catch((error) => {
    ready.reject(error);
    onError(error);
  });
  await ready.promise;
}

self.onmessage = async ({ data: { url, sockets, want } }) => {
  let delivered = 0;
  const total = sockets * want;
  const onEvent = () => {
    if (++delivered === total) self.postMessage({ type: "done" });
  };
  const onError = (error: Error) => self.postMessage({ type: "error", message: error.message });
  for (let i = 0; i < sockets; i += OPEN_AT_ONCE) {
    await Promise.all(
      Array.from(
        { length: Math.min(OPEN_AT_ONCE, sockets - i) },
        () => subscribe(url, onEvent, onError),
      ),
    );
  }
  self.postMessage({ type: "ready" });
};

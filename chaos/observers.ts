/**
 * The chaos suite's WebSocket clients: a durable subscriber that resumes from
 * its last cursor on any gateway when its socket drops, and consumer-group
 * members that ack every event and reconnect to their own gateway. They
 * record what a subscriber of the gateway must never see: a rewind, or an
 * event delivered to the group again after it was acked.
 *
 * @module
 */
import { partitionFor } from "../src/log/partitioner.ts";
import { decodeCursor } from "../src/subscribe/cursor.ts";
import type { GatewayPool } from "../testing/publish_load.ts";

// deno-lint-ignore no-explicit-any
type Frame = Record<string, any>;

/** Frames that were not JSON objects, as received (the gateway must never send one). */
export const oddFrames: string[] = [];

/**
 * Opens `/v1/subscribe?query` on `url` and resolves with the socket once the
 * `ready` frame arrived; rejects if the socket closes or errs first.
 */
function openSubscription(
  url: string,
  query: URLSearchParams,
  onFrame: (frame: Frame) => void,
  onClose: () => void,
  readyTimeoutMs: number,
): Promise<{ socket: WebSocket; ready: Frame }> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(`${url.replace("http", "ws")}/v1/subscribe?${query}`);
    let ready = false;
    const timer = setTimeout(() => {
      if (!ready) {
        socket.close();
        reject(new Error(`no ready frame from ${url} within ${readyTimeoutMs} ms`));
      }
    }, readyTimeoutMs);
    socket.onmessage = (e) => {
      let frame: Frame | undefined;
      try {
        frame = JSON.parse(e.data);
      } catch { /* counted below */ }
      if (typeof frame !== "object" || frame === null) {
        oddFrames.push(String(e.data).slice(0, 200));
        return;
      }
      if (!ready) {
        if (frame.type !== "ready") return;
        ready = true;
        clearTimeout(timer);
        resolve({ socket, ready: frame });
        return;
      }
      if (frame.type === "event" || frame.type === "acked") onFrame(frame);
    };
    socket.onerror = () => {};
    socket.onclose = (e) => {
      clearTimeout(timer);
      if (ready) onClose();
      else reject(new Error(`subscription to ${url} closed before ready (${e.code} ${e.reason})`));
    };
  });
}

/** The partition and offset an event frame carries in its cursor. */
function position(frame: Frame, partitions: number): { partition: number; offset: bigint } {
  const partition = partitionFor(String(frame.event.data.customer_id), partitions);
  const next = decodeCursor(String(frame.cursor)).next.get(partition);
  if (next === undefined) throw new Error(`cursor of ${frame.event.event_id} lacks partition`);
  return { partition, offset: next - 1n };
}

/**
 * A durable, group-less subscriber. On a dropped socket it reconnects, to
 * whichever gateway is up, with the cursor of the last event it got.
 */
export class DurableSubscriber {
  /** Event ids received (with repeats counted). */
  readonly received = new Map<string, number>();
  /** Events whose (partition, offset) was at or below one already received. */
  rewinds = 0;
  /** Examples of rewinds, for the report. */
  readonly rewindSamples: string[] = [];
  /** Times the socket dropped and was reopened. */
  reconnects = 0;
  readonly #pool: GatewayPool;
  readonly #topic: string;
  readonly #partitions: number;
  readonly #highest = new Map<number, bigint>();
  #cursor?: string;
  #socket?: WebSocket;
  #closed = false;

  constructor(pool: GatewayPool, topic: string, partitions: number) {
    this.#pool = pool;
    this.#topic = topic;
    this.#partitions = partitions;
  }

  /** Subscribes from the end of the log on gateway `gateway`. */
  async start(gateway: number): Promise<void> {
    await this.#connect(gateway, "latest");
  }

  /** Closes the socket and stops reconnecting. */
  close(): void {
    this.#closed = true;
    this.#socket?.close();
  }

  async #connect(gateway: number, from: string): Promise<void> {
    const query = new URLSearchParams({ topic: this.#topic, from });
    const { socket, ready } = await openSubscription(
      this.#pool.url(gateway),
      query,
      (frame) => {
        if (frame.type === "event") this.#event(frame);
      },
      () => void this.#reconnect(),
      15_000,
    );
    this.#socket = socket;
    this.#cursor ??= ready.cursor;
  }

  #event(frame: Frame): void {
    const id = String(frame.event.event_id);
    this.received.set(id, (this.received.get(id) ?? 0) + 1);
    const { partition, offset } = position(frame, this.#partitions);
    const highest = this.#highest.get(partition);
    if (highest !== undefined && offset <= highest) {
      this.rewinds++;
      if (this.rewindSamples.length < 3) {
        this.rewindSamples.push(`p${partition} ${offset} after ${highest} (${id})`);
      }
    } else {
      this.#highest.set(partition, offset);
    }
    this.#cursor = frame.cursor;
  }

  async #reconnect(): Promise<void> {
    while (!this.#closed) {
      const gateway = this.#pool.pick();
      if (gateway !== undefined) {
        try {
          await this.#connect(gateway, this.#cursor ?? "latest");
          this.reconnects++;
          return;
        } catch {
          this.#pool.markDown(gateway);
        }
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

/** What the members of one consumer group saw, together. */
export class GroupLedger {
  /** Event ids whose ack the gateway confirmed (an `acked` frame): never to be delivered again. */
  readonly acked = new Set<string>();
  /** Event ids delivered again after their ack was confirmed. */
  readonly redeliveredAfterAck = new Set<string>();
  /** Event ids acked but never confirmed (the gateway died first), then delivered again. */
  readonly redeliveredUnconfirmed = new Set<string>();
  /** Event ids acked and not confirmed yet. */
  readonly unconfirmed = new Set<string>();
  /** Event ids delivered to a member at least once. */
  readonly received = new Set<string>();
  /**
   * Event ids acked over a socket that dropped before the confirmation came:
   * committed or not, nobody can tell; if not, another delivery follows.
   */
  readonly orphaned = new Set<string>();
  /** Deliveries in total. */
  deliveries = 0;
  /** Where each event was delivered, and which member confirmed its ack when (for the notes). */
  readonly #confirmations = new Map<string, string>();
  /** How each event delivered again after its confirmed ack came back, for the notes. */
  readonly redeliveries: string[] = [];

  /** Records that `member` received `id` from `where` (partition and offset). */
  delivered(id: string, member = "", where = ""): void {
    this.deliveries++;
    this.received.add(id);
    if (this.acked.has(id)) {
      this.redeliveredAfterAck.add(id);
      this.redeliveries.push(
        `${id} (${where}): confirmed ${this.#confirmations.get(id)}, ` +
          `delivered again to ${member} at ${clockTime()}`,
      );
    } else if (this.unconfirmed.has(id)) this.redeliveredUnconfirmed.add(id);
  }

  /** Records that a member acked `id`. */
  ack(id: string): void {
    this.unconfirmed.add(id);
  }

  /** Whether `id` is done with: its ack confirmed, or sent over a socket that dropped since. */
  settled(id: string): boolean {
    return this.acked.has(id) || this.orphaned.has(id);
  }

  /** Records that the gateway confirmed the ack of `id`. */
  confirmed(id: string, member = ""): void {
    this.unconfirmed.delete(id);
    this.acked.add(id);
    this.#confirmations.set(id, `to ${member} at ${clockTime()}`);
  }

  /**
   * Redelivered events whose ack was sent but never confirmed: the ack (or
   * the gateway's commit of it) died with the connection or the gateway, so
   * the redelivery is at-least-once doing its job.
   */
  redeliveredInDoubt(): number {
    return this.redeliveredUnconfirmed.size;
  }
}

/** The time of day in UTC with milliseconds, as the gateways' logs show it. */
function clockTime(): string {
  return new Date().toISOString().slice(11, 23);
}

/** `partition/offset` of an event frame, from its cursor (the next offset of its partition). */
function positionOf(cursor: string): string {
  try {
    const { o } = JSON.parse(atob(cursor.replaceAll("-", "+").replaceAll("_", "/")));
    const [[partition, next]] = Object.entries(o as Record<string, string>);
    return `${partition}/${BigInt(next) - 1n}`;
  } catch {
    return "?";
  }
}

/**
 * A member of a consumer group on one gateway: acks every event at once, and
 * reconnects to the same gateway when its socket drops.
 */
export class GroupMember {
  /** Times the socket dropped and was reopened. */
  reconnects = 0;
  readonly #url: () => string;
  readonly #query: URLSearchParams;
  readonly #ledger: GroupLedger;
  #socket?: WebSocket;
  #closed = false;
  /** Event id of each ack sent and not confirmed yet, by cursor. */
  readonly #pending = new Map<string, string>();

  readonly #name: string;

  constructor(
    url: () => string,
    topic: string,
    group: string,
    ledger: GroupLedger,
    name = "",
  ) {
    this.#url = url;
    this.#name = name;
    this.#query = new URLSearchParams({ topic, group, from: "latest" });
    this.#ledger = ledger;
  }

  /** Joins the group. */
  async start(): Promise<void> {
    await this.#connect();
  }

  /** Leaves the group and stops reconnecting. */
  close(): void {
    this.#closed = true;
    this.#socket?.close();
  }

  async #connect(): Promise<void> {
    // Joining waits for the group's rebalance, which waits for every member to rejoin.
    const { socket } = await openSubscription(
      this.#url(),
      this.#query,
      (frame) => this.#frame(frame),
      () => {
        // Acks not confirmed by now never will be: the socket is gone.
        for (const id of this.#pending.values()) this.#ledger.orphaned.add(id);
        this.#pending.clear();
        void this.#reconnect();
      },
      60_000,
    );
    this.#socket = socket;
  }

  #frame(frame: Frame): void {
    const ledger = this.#ledger;
    if (frame.type === "acked") {
      const id = this.#pending.get(frame.cursor);
      this.#pending.delete(frame.cursor);
      if (id !== undefined) ledger.confirmed(id, this.#name);
      return;
    }
    const id = String(frame.event.event_id);
    ledger.delivered(id, this.#name, positionOf(frame.cursor));
    if (this.#socket?.readyState !== WebSocket.OPEN) return;
    this.#socket.send(JSON.stringify({ type: "ack", cursor: frame.cursor }));
    this.#pending.set(frame.cursor, id);
    ledger.ack(id);
  }

  async #reconnect(): Promise<void> {
    while (!this.#closed) {
      try {
        await this.#connect();
        this.reconnects++;
        return;
      } catch {
        await new Promise((r) => setTimeout(r, 200));
      }
    }
  }
}

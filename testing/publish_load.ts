/**
 * Open-loop publish load for the chaos and soak suites: new events at a fixed
 * rate, whatever the answers, each retried with the same `event_id` until a
 * gateway acknowledges it. Keys are chosen so every partition gets traffic.
 * Gateways are picked round-robin among those that last answered, as a load
 * balancer with health checks would.
 *
 * @module
 */
import { CUSTOMER_IDENTIFIED } from "../src/events/customer_identified.ts";
import { partitionFor } from "../src/log/partitioner.ts";

/** How one HTTP attempt ended: its status, or no answer. */
export type Outcome = number | "connection" | "timeout";

/** One HTTP attempt of one event. */
export interface Attempt {
  eventId: string;
  /** The partition the event's key maps to. */
  partition: number;
  /** Index of the gateway it went to. */
  gateway: number;
  /** When it was sent, `performance.now()` ms. */
  sentAt: number;
  /** When its answer (or the error) arrived. */
  endAt: number;
  outcome: Outcome;
}

/** A gateway's acknowledgement (`202`, or `200` for a duplicate) of an event. */
export interface Ack {
  eventId: string;
  /** The partition the event's key maps to. */
  expectedPartition: number;
  status: number;
  /** Where the gateway says the record is. */
  partition: number;
  offset: string;
  /** When the acknowledgement arrived. */
  at: number;
  /** Attempts it took. */
  attempts: number;
}

/**
 * Keys (customer ids) that cover every partition: `perPartition` keys for each
 * of `partitions`, found with Kafka's murmur2 partitioner.
 */
export function keysPerPartition(partitions: number, perPartition = 4): string[][] {
  const keys: string[][] = Array.from({ length: partitions }, () => []);
  for (let i = 0; keys.some((k) => k.length < perPartition); i++) {
    const key = `cust-${i}`;
    const p = partitionFor(key, partitions);
    if (keys[p].length < perPartition) keys[p].push(key);
  }
  return keys;
}

/** Gateway URLs with a passive health check: one that fails to connect is skipped until `/readyz` answers. */
export class GatewayPool {
  readonly #urls: string[];
  readonly #up: boolean[];
  readonly #probing = new Set<number>();
  #next = 0;
  #closed = false;

  constructor(urls: string[]) {
    this.#urls = [...urls];
    this.#up = urls.map(() => true);
  }

  /** URL of gateway `i`. */
  url(i: number): string {
    return this.#urls[i];
  }

  /** Number of gateways. */
  get size(): number {
    return this.#urls.length;
  }

  /** The next gateway that is up, round-robin, or undefined when none is. */
  pick(): number | undefined {
    for (let k = 0; k < this.#urls.length; k++) {
      const i = (this.#next + k) % this.#urls.length;
      if (this.#up[i]) {
        this.#next = i + 1;
        return i;
      }
    }
    return undefined;
  }

  /** Marks gateway `i` down and probes its `/readyz` every 100 ms until it answers 200. */
  markDown(i: number): void {
    this.#up[i] = false;
    if (this.#probing.has(i)) return;
    this.#probing.add(i);
    (async () => {
      while (!this.#closed) {
        await new Promise((r) => setTimeout(r, 100));
        const res = await fetch(`${this.#urls[i]}/readyz`, { signal: AbortSignal.timeout(1000) })
          .catch(() => undefined);
        await res?.body?.cancel();
        if (res?.status === 200) break;
      }
      this.#up[i] = true;
      this.#probing.delete(i);
    })();
  }

  /** Stops probing. */
  close(): void {
    this.#closed = true;
  }
}

/** Options of {@linkcode PublishLoad}. */
export interface PublishLoadOptions {
  /** Gateways to publish to. */
  pool: GatewayPool;
  /** New events per second. */
  rate: number;
  /** Keys by partition (see {@linkcode keysPerPartition}). */
  keys: string[][];
  /** Prefix of the event ids, e.g. the round's name. */
  idPrefix: string;
  /** An attempt without an answer after this long is abandoned and retried, in ms. @default {10000} */
  attemptTimeoutMs?: number;
  /** Most attempts in flight; new events wait beyond it. @default {8000} */
  maxInFlight?: number;
  /** The HTTP client (its connection pool); the runtime's shared one when unset. */
  client?: Deno.HttpClient;
  /** Called for every attempt once it has ended. */
  onAttempt?: (attempt: Attempt) => void;
  /** Called once per event, when it is acknowledged. */
  onAck?: (ack: Ack) => void;
}

interface PendingEvent {
  id: string;
  key: string;
  partition: number;
  body: string;
  attempts: number;
}

const EXAMPLE = CUSTOMER_IDENTIFIED.versions.v1.example;

/** Longest wait between two attempts of one event, in ms. */
const MAX_RETRY_DELAY_MS = 8000;

/**
 * Delay before attempt `attempts + 1` after `outcome`, in ms: at once after a
 * timeout, soon (to another gateway) after a refused connection, else the
 * gateway's `Retry-After` or exponential backoff from 500 ms, whichever is
 * longer, with jitter so retries do not arrive in lockstep.
 */
function retryDelay(outcome: Outcome, retryAfter: string | null, attempts: number): number {
  if (outcome === "timeout") return 0;
  if (outcome === "connection") return 50;
  const seconds = Number(retryAfter);
  const asked = Number.isFinite(seconds) && seconds > 0 ? seconds * 1000 : 0;
  const backoff = Math.min(MAX_RETRY_DELAY_MS, 500 * 2 ** (attempts - 1));
  return Math.max(asked, backoff) * (1 + Math.random() * 0.2);
}

/** Publishes `rate` events per second until stopped, retrying each until it is acknowledged. */
export class PublishLoad {
  readonly #options:
    & Required<Omit<PublishLoadOptions, "client" | "onAttempt" | "onAck">>
    & PublishLoadOptions;
  readonly #keys: { key: string; partition: number }[];
  readonly #pending = new Set<PendingEvent>();
  readonly #backlog: PendingEvent[] = [];
  #created = 0;
  #inFlight = 0;
  /** When each attempt in flight was sent, oldest first. */
  readonly #sentTimes = new Set<number>();
  #generating = false;
  #abandoned = false;
  #ticker?: Promise<void>;
  readonly #retryTimers = new Set<ReturnType<typeof setTimeout>>();
  /** Attempts by outcome. */
  readonly outcomes = new Map<string, number>();

  constructor(options: PublishLoadOptions) {
    this.#options = { attemptTimeoutMs: 10_000, maxInFlight: 8000, ...options };
    this.#keys = options.keys.flatMap((keys, partition) => keys.map((key) => ({ key, partition })));
  }

  /** Events created so far. */
  get created(): number {
    return this.#created;
  }

  /** Events not acknowledged yet. */
  get pending(): number {
    return this.#pending.size;
  }

  /** Attempts in flight now. */
  get inFlight(): number {
    return this.#inFlight;
  }

  /** How long the oldest attempt in flight has waited for its answer, ms (0 when none). */
  get oldestInFlightMs(): number {
    for (const sentAt of this.#sentTimes) return performance.now() - sentAt;
    return 0;
  }

  /** Starts creating events at the configured rate. */
  start(): void {
    this.#generating = true;
    this.#ticker = this.#tick();
  }

  /** Changes the rate from now on. */
  set rate(rate: number) {
    this.#options.rate = rate;
  }

  /**
   * Stops creating events, then waits until every pending event is
   * acknowledged or `giveUpMs` has passed; returns the ids never acknowledged.
   */
  async stop(giveUpMs = 60_000): Promise<string[]> {
    this.#generating = false;
    await this.#ticker;
    const deadline = performance.now() + giveUpMs;
    while (this.#pending.size > 0 && performance.now() < deadline) {
      await new Promise((r) => setTimeout(r, 50));
    }
    this.#abandoned = true;
    for (const timer of this.#retryTimers) clearTimeout(timer);
    const left = [...this.#pending].map((e) => e.id);
    this.#pending.clear();
    this.#backlog.length = 0;
    while (this.#inFlight > 0) await new Promise((r) => setTimeout(r, 20));
    return left;
  }

  async #tick(): Promise<void> {
    const start = performance.now();
    const startCount = this.#created;
    let rate = this.#options.rate;
    let base = start;
    let baseCount = startCount;
    while (this.#generating) {
      if (rate !== this.#options.rate) {
        rate = this.#options.rate;
        base = performance.now();
        baseCount = this.#created;
      }
      const due = baseCount + Math.floor((performance.now() - base) * rate / 1000);
      while (this.#created < due) this.#create();
      await new Promise((r) => setTimeout(r, 5));
    }
  }

  #create(): void {
    const n = this.#created++;
    const { key, partition } = this.#keys[n % this.#keys.length];
    const id = `${this.#options.idPrefix}-${n}`;
    const event: PendingEvent = {
      id,
      key,
      partition,
      body: JSON.stringify({ ...EXAMPLE, customer_id: key, event_id: id }),
      attempts: 0,
    };
    this.#pending.add(event);
    this.#send(event);
  }

  #send(event: PendingEvent): void {
    if (this.#abandoned || !this.#pending.has(event)) return;
    if (this.#inFlight >= this.#options.maxInFlight) {
      this.#backlog.push(event);
      return;
    }
    const gateway = this.#options.pool.pick();
    if (gateway === undefined) {
      this.#later(event, 50);
      return;
    }
    this.#inFlight++;
    event.attempts++;
    void this.#attempt(event, gateway).finally(() => {
      this.#inFlight--;
      const next = this.#backlog.shift();
      if (next) this.#send(next);
    });
  }

  #later(event: PendingEvent, ms: number): void {
    const timer = setTimeout(() => {
      this.#retryTimers.delete(timer);
      this.#send(event);
    }, ms);
    this.#retryTimers.add(timer);
  }

  async #attempt(event: PendingEvent, gateway: number): Promise<void> {
    const { pool, attemptTimeoutMs, client } = this.#options;
    let sentAt = performance.now();
    // Set entries are unique: two attempts sent within the timer's resolution get distinct keys.
    while (this.#sentTimes.has(sentAt)) sentAt += 1e-6;
    this.#sentTimes.add(sentAt);
    let outcome: Outcome;
    let retryAfter: string | null = null;
    let body: { partition?: number; offset?: string } | undefined;
    try {
      const res = await fetch(`${pool.url(gateway)}/v1/identifications`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: event.body,
        signal: AbortSignal.timeout(attemptTimeoutMs),
        client,
      });
      outcome = res.status;
      retryAfter = res.headers.get("retry-after");
      if (res.status === 200 || res.status === 202) body = await res.json();
      else await res.body?.cancel();
    } catch (error) {
      if (error instanceof DOMException && error.name === "TimeoutError") outcome = "timeout";
      else {
        outcome = "connection";
        pool.markDown(gateway);
      }
    }
    const endAt = performance.now();
    this.#sentTimes.delete(sentAt);
    const key = String(outcome);
    this.outcomes.set(key, (this.outcomes.get(key) ?? 0) + 1);
    this.#options.onAttempt?.({
      eventId: event.id,
      partition: event.partition,
      gateway,
      sentAt,
      endAt,
      outcome,
    });
    if (this.#abandoned || !this.#pending.has(event)) return;
    if (body !== undefined) {
      this.#pending.delete(event);
      this.#options.onAck?.({
        eventId: event.id,
        expectedPartition: event.partition,
        status: outcome as number,
        partition: Number(body.partition),
        offset: String(body.offset),
        at: endAt,
        attempts: event.attempts,
      });
      return;
    }
    if (typeof outcome === "number" && outcome < 500 && outcome !== 429) {
      // A 4xx other than 429 will not change on retry: the event is given up (a test bug or a 409).
      this.#pending.delete(event);
      return;
    }
    this.#later(event, retryDelay(outcome, retryAfter, event.attempts));
  }
}

/**
 * The send queue of a subscription connection, shared by both transports: how
 * many events and bytes the transport still holds for the client, whether the
 * client has credit for more, and whether it stopped draining.
 *
 * Durable subscriptions are paced: the feed sends while the client has credit
 * and waits while it has none, so a replay runs at the client's pace with
 * bounded memory; a client that drains nothing for the stall timeout while
 * frames are pending is a slow consumer. Live subscriptions are bounded: an
 * event that does not fit makes the client a slow consumer at once.
 *
 * @module
 */

/**
 * How often a paced connection with frames still pending is looked at, in ms:
 * neither transport says when its buffer drains. Short enough that a client
 * reading fast waits little for its credit (1,000 events every 5 ms is 200,000
 * events/s); connections with nothing pending are not looked at.
 */
export const DEFAULT_DRAIN_POLL_MS = 5;

/** How much may be queued for one client. */
export interface QueueLimits {
  /**
   * Most events queued for a client: a paced client has no credit at this
   * many; a bounded one is disconnected beyond it.
   */
  maxQueueEvents: number;
  /**
   * Most bytes queued for a client: a paced client has no credit at this
   * many; a bounded one is disconnected beyond it.
   */
  maxQueueBytes: number;
}

/** Options of a {@linkcode SendQueue}. */
export interface SendQueueOptions extends QueueLimits {
  /** True for durable subscriptions (credit and stall), false for live ones (bounded). */
  paced: boolean;
  /**
   * How long a paced client may drain nothing while frames are pending before
   * it is a slow consumer, in ms (`subscriptions.stall_timeout`).
   */
  stallTimeoutMs: number;
}

/** What {@linkcode SendQueue.poll} found. */
export type QueueState =
  /** Credit came back after the client had none. */
  | "drained"
  /** Frames are pending and the client drained nothing for the stall timeout. */
  | "stalled"
  /** Nothing is pending and the client has credit: no need to look again until the next send. */
  | "idle"
  /** Frames are pending; look again later. */
  | "pending";

/**
 * A connection's send queue. The transport reports only how many bytes it
 * still buffers, so the queue keeps the sizes of the events it handed over and
 * retires them from the front once the bytes behind them exceed what is still
 * buffered; what remains is the number of events pending.
 *
 * @example
 * ```ts
 * import { SendQueue } from "./queue.ts";
 *
 * let buffered = 0;
 * const queue = new SendQueue(
 *   { paced: true, maxQueueEvents: 2, maxQueueBytes: 1024, stallTimeoutMs: 30_000 },
 *   () => buffered,
 * );
 * queue.offer(() => buffered += 100);
 * queue.offer(() => buffered += 100);
 * queue.writable; // false: two events pending
 * buffered = 0;
 * queue.poll(); // "drained"
 * ```
 */
export class SendQueue {
  readonly #options: SendQueueOptions;
  readonly #buffered: () => number;
  readonly #now: () => number;
  /** Sizes of the events not yet retired, oldest first from `#head`. */
  #sizes: number[] = [];
  #head = 0;
  #bytes = 0;
  /** What the transport buffered right after the last frame was handed over, or at the last look. */
  #last = 0;
  #progressAt: number;
  #blocked = false;

  /**
   * A queue within `options` over a transport that buffers `buffered()` bytes;
   * `now` is the clock of the stall timeout.
   */
  constructor(options: SendQueueOptions, buffered: () => number, now: () => number = Date.now) {
    this.#options = options;
    this.#buffered = buffered;
    this.#now = now;
    this.#progressAt = now();
  }

  /** Whether the client has credit for another event (always true for a bounded queue). */
  get writable(): boolean {
    return !this.#blocked;
  }

  /**
   * Hands one event frame to the transport with `send`, unless the queue is
   * bounded and the frame (`size` bytes, for the bound) does not fit. Returns
   * false for a slow consumer. A paced queue always sends; afterwards it may
   * have no credit left.
   */
  offer(send: () => void, size = 0): boolean {
    const before = this.#look();
    const { maxQueueEvents, maxQueueBytes } = this.#options;
    if (
      !this.#options.paced &&
      (this.#pending >= maxQueueEvents || before + size > maxQueueBytes)
    ) {
      return false;
    }
    send();
    const after = this.#buffered();
    const sent = Math.max(0, after - before);
    this.#sizes.push(sent);
    this.#bytes += sent;
    this.#last = after;
    if (this.#options.paced && !this.#hasRoom(after)) this.#blocked = true;
    return true;
  }

  /** Hands a frame that is not an event (ready, heartbeat, error) to the transport with `send`. */
  control(send: () => void): void {
    this.#look();
    send();
    this.#last = this.#buffered();
  }

  /** Looks at the transport: whether credit came back, the client stalled, or nothing is pending. */
  poll(): QueueState {
    const buffered = this.#look();
    if (this.#blocked && this.#hasRoom(buffered)) {
      this.#blocked = false;
      return "drained";
    }
    if (buffered === 0) return "idle";
    const stalled = this.#options.paced &&
      this.#now() - this.#progressAt >= this.#options.stallTimeoutMs;
    return stalled ? "stalled" : "pending";
  }

  get #pending(): number {
    return this.#sizes.length - this.#head;
  }

  #hasRoom(buffered: number): boolean {
    return this.#pending < this.#options.maxQueueEvents && buffered < this.#options.maxQueueBytes;
  }

  /** Reads what the transport buffers, notes any progress, and retires the events it wrote. */
  #look(): number {
    const buffered = this.#buffered();
    if (buffered < this.#last || buffered === 0) this.#progressAt = this.#now();
    this.#last = buffered;
    if (buffered === 0) {
      this.#sizes = [];
      this.#head = 0;
      this.#bytes = 0;
      return 0;
    }
    while (this.#pending > 0 && this.#bytes - this.#sizes[this.#head] >= buffered) {
      this.#bytes -= this.#sizes[this.#head++];
    }
    if (this.#head > 1024 && this.#head * 2 > this.#sizes.length) {
      this.#sizes = this.#sizes.slice(this.#head);
      this.#head = 0;
    }
    return buffered;
  }
}

/**
 * The live bus port: best-effort, at-most-once fan-out of hot notifications
 * (NATS in production, an in-process bus when no NATS is configured).
 *
 * @module
 */

/**
 * Header of a live message sent before its durable write was acknowledged
 * (value `false`): that write may still fail, and the client's retry would
 * send the event again.
 */
export const DURABLE_HEADER = "tastesync-durable";

/** A message on the live bus. */
export interface LiveMessage {
  /** NATS-style subject, e.g. `notifications.customer_identified`. */
  subject: string;
  /** The envelope JSON. */
  data: string;
  /** Headers, e.g. `Nats-Msg-Id` and `traceparent`. */
  headers: Record<string, string>;
}

/** A best-effort publish/subscribe bus. */
export interface LiveBus {
  /** Backend name: `nats` or `in-process`. */
  readonly backend: string;
  /** Publishes without waiting; never throws. Returns false when the message was dropped. */
  publish(message: LiveMessage): boolean;
  /**
   * Calls `handler` for each message whose subject matches `pattern` (`*` and
   * `>` wildcards). Resolves, with the function that unsubscribes, once the
   * subscription is active, so every later publish reaches it.
   */
  subscribe(pattern: string, handler: (message: LiveMessage) => void): Promise<() => void>;
  /** Whether the bus is connected now. */
  connected(): boolean;
  /** Flushes and disconnects. */
  close(): Promise<void>;
}

/** Whether `subject` matches a NATS `pattern` with `*` (one token) and `>` (the rest). */
export function subjectMatches(pattern: string, subject: string): boolean {
  const p = pattern.split(".");
  const s = subject.split(".");
  for (let i = 0; i < p.length; i++) {
    if (p[i] === ">") return s.length > i;
    if (i >= s.length || (p[i] !== "*" && p[i] !== s[i])) return false;
  }
  return p.length === s.length;
}

/** The bus used when no NATS is configured: delivery within this process only. */
export class InProcessBus implements LiveBus {
  readonly backend = "in-process";
  readonly #subscribers = new Set<{ pattern: string; handler: (m: LiveMessage) => void }>();

  publish(message: LiveMessage): boolean {
    for (const sub of this.#subscribers) {
      if (!subjectMatches(sub.pattern, message.subject)) continue;
      queueMicrotask(() => sub.handler(message));
    }
    return true;
  }

  subscribe(pattern: string, handler: (message: LiveMessage) => void): Promise<() => void> {
    const sub = { pattern, handler };
    this.#subscribers.add(sub);
    return Promise.resolve(() => this.#subscribers.delete(sub));
  }

  connected(): boolean {
    return true;
  }

  close(): Promise<void> {
    this.#subscribers.clear();
    return Promise.resolve();
  }
}

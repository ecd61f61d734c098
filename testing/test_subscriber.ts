/**
 * A {@linkcode Subscriber} for unit tests of feeds: its client takes `credit`
 * more events, then has to drain; it records what it got and which acks were
 * confirmed.
 *
 * @module
 */
import type { Delivery, Subscriber } from "../src/subscribe/delivery.ts";

/** A subscriber whose client takes `credit` more events, then has to drain. */
export class TestSubscriber implements Subscriber {
  /** Deliveries received, in order. */
  readonly got: Delivery[] = [];
  /** Cursors of the acks confirmed to it. */
  readonly confirmed: string[] = [];
  /** Events it takes before it has to drain. */
  credit = Infinity;
  #drained = () => {};

  /** A subscriber that acks (WebSocket) or not (SSE). */
  constructor(readonly acks = true) {}

  get writable(): boolean {
    return this.credit > 0;
  }

  send(d: Delivery): boolean {
    this.got.push(d);
    this.credit--;
    return true;
  }

  onDrain(listener: () => void): void {
    this.#drained = listener;
  }

  confirm(cursor: string): void {
    this.confirmed.push(cursor);
  }

  ready(): void {}

  close(): void {}

  /** The client drained: it takes `credit` more. */
  drain(credit = Infinity): void {
    this.credit = credit;
    this.#drained();
  }

  /** The event ids received, in order. */
  ids(): string[] {
    return this.got.map((d) => d.envelope.event_id);
  }
}

/**
 * Which topics may be subscribed: those named in the settings (the gateway's
 * own topic and `subscriptions.topics`) and those that exist in the log.
 * Asking never creates a topic, so a request naming an unknown one cannot
 * leave anything behind. A topic once seen stays known (topics are not
 * deleted under a running gateway); an unknown one is asked about each time.
 *
 * @module
 */
import type { EventLog } from "../log/event_log.ts";

/** The topics subscriptions may name. */
export class TopicCatalog {
  readonly #log: Pick<EventLog, "hasTopic">;
  readonly #known: Set<string>;

  /** Topics of `log`, plus `configured` whether or not they exist yet. */
  constructor(log: Pick<EventLog, "hasTopic">, configured: Iterable<string>) {
    this.#log = log;
    this.#known = new Set(configured);
  }

  /**
   * Whether `topic` may be subscribed.
   *
   * @throws {Error} when the log cannot be asked.
   */
  async has(topic: string): Promise<boolean> {
    if (this.#known.has(topic)) return true;
    const exists = await this.#log.hasTopic(topic);
    if (exists) this.#known.add(topic);
    return exists;
  }
}

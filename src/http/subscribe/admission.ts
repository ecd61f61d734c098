/**
 * What a subscription request must pass before any upgrade or stream: a
 * browser `Origin` that is allowed (`403`), a topic that exists or is
 * configured (`404`, and nothing is created), and a free slot among its
 * principal's open subscriptions (`429`). An admitted request holds its slot
 * until its release.
 *
 * @module
 */
import type { Context } from "hono";
import type { TopicCatalog } from "../../subscribe/topic_catalog.ts";
import type { Logger } from "../../telemetry/logger.ts";
import type { Metrics } from "../../telemetry/metrics.ts";
import { limitKey } from "../limits/limit_key.ts";
import type { Release, SubscriptionSlots } from "../limits/subscription_slots.ts";
import type { AllowedOrigins } from "../origins.ts";
import { problem, problemResponse } from "../problem.ts";

/** `Retry-After` when the log cannot say whether a topic exists, in seconds. */
const TOPIC_LOOKUP_RETRY_AFTER_SECONDS = "1";

/** What {@linkcode SubscriptionAdmission} checks against. */
export interface AdmissionOptions {
  /** Browser origins allowed to subscribe. */
  origins: AllowedOrigins;
  /** Topics that may be subscribed. */
  topics: TopicCatalog;
  /** Open subscriptions per principal. */
  slots: SubscriptionSlots;
  /** Logs one `info` line per refusal. */
  logger: Logger;
  /** Counts refused slots in `tastesync_rate_limited_total{kind="subscriptions"}`. */
  metrics: Pick<Metrics, "rateLimited">;
}

/** An admitted request and the release of its slot, or the response refusing it. */
export type Admission = { ok: true; release: Release } | { ok: false; response: Response };

/** Admits subscription requests. */
export class SubscriptionAdmission {
  readonly #options: AdmissionOptions;

  /** Admission against `options`. */
  constructor(options: AdmissionOptions) {
    this.#options = options;
  }

  /** Admits `c`, a subscription to `topic`, or answers why not. */
  async admit(c: Context, topic: string): Promise<Admission> {
    const { origins, topics, slots, logger, metrics } = this.#options;
    const who = limitKey(c);
    const origin = c.req.header("origin");
    if (!origins.allows(origin, c.req.url)) {
      logger.log("info", "Subscription refused: origin not allowed", {
        principal: who.principalId,
        origin,
      });
      return refuse(problem("origin-not-allowed", `Origin ${origin} is not allowed`));
    }
    let exists;
    try {
      exists = await topics.has(topic);
    } catch (error) {
      logger.log("warn", "Could not look up a topic", { topic, error: String(error) });
      return refuse(problem("log-unavailable", "The topic could not be looked up; try again"), {
        "retry-after": TOPIC_LOOKUP_RETRY_AFTER_SECONDS,
      });
    }
    if (!exists) {
      logger.log("info", "Subscription refused: unknown topic", {
        principal: who.principalId,
        topic,
      });
      return refuse(problem("unknown-topic", `Topic "${topic}" does not exist`));
    }
    const release = slots.acquire(who.key);
    if (!release) {
      metrics.rateLimited.inc({ kind: "subscriptions" });
      logger.log("info", "Subscription refused: too many open", {
        principal: who.principalId,
        max: slots.max,
      });
      return refuse(
        problem(
          "too-many-subscriptions",
          `At most ${slots.max} subscriptions may be open at once; close one first`,
        ),
      );
    }
    return { ok: true, release };
  }
}

function refuse(body: ReturnType<typeof problem>, headers?: Record<string, string>): Admission {
  return { ok: false, response: problemResponse(body, headers) };
}

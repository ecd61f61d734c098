/**
 * The publish rate limit: a token bucket per principal (per client address
 * when anonymous), kept in this process. A single event costs one token, a
 * batch one per item; a publish without the tokens gets `429` with
 * `Retry-After`, `RateLimit-Policy` and `RateLimit`.
 *
 * @module
 */
import type { Context } from "hono";
import type { Logger } from "../../telemetry/logger.ts";
import type { Metrics } from "../../telemetry/metrics.ts";
import { problem, problemResponse } from "../problem.ts";
import { KeyedBuckets } from "./keyed_buckets.ts";
import { limitKey } from "./limit_key.ts";
import {
  type QuotaPolicy,
  rateLimitField,
  rateLimitPolicyField,
  wholeSeconds,
} from "./ratelimit_fields.ts";
import type { Clock } from "./token_bucket.ts";

/** The name of the publish policy in the `RateLimit` fields. */
export const PUBLISH_POLICY_NAME = "publish";

/** Options of {@linkcode PublishLimit}. */
export interface PublishLimitOptions {
  /** Sustained publishes per second of one principal. */
  perSecond: number;
  /** Publishes one principal may send at once. */
  burst: number;
  /** Logs one `info` line per refusal. */
  logger: Logger;
  /** Counts refusals in `tastesync_rate_limited_total{kind="publish"}`. */
  metrics: Pick<Metrics, "rateLimited">;
  /** The clock; default `Date.now`. */
  clock?: Clock;
}

/** The publish rate limit of one process. */
export class PublishLimit {
  readonly #buckets: KeyedBuckets;
  readonly #policy: QuotaPolicy;
  readonly #perSecond: number;
  readonly #logger: Logger;
  readonly #metrics: Pick<Metrics, "rateLimited">;

  /** A limit of `perSecond` publishes with bursts of `burst`, per principal. */
  constructor(options: PublishLimitOptions) {
    this.#buckets = new KeyedBuckets(options);
    this.#policy = {
      name: PUBLISH_POLICY_NAME,
      quota: options.burst,
      windowSeconds: wholeSeconds((options.burst / options.perSecond) * 1000, 1),
    };
    this.#perSecond = options.perSecond;
    this.#logger = options.logger;
    this.#metrics = options.metrics;
  }

  /** Takes `events` publishes from `c`'s principal; the `429` response when it has not that many left. */
  admit(c: Context, events: number): Response | undefined {
    const who = limitKey(c);
    const decision = this.#buckets.take(who.key, events);
    if (decision.allowed) return undefined;
    this.#metrics.rateLimited.inc({ kind: "publish" });
    this.#logger.log("info", "Publish refused: rate limit", {
      principal: who.principalId,
      events,
      remaining: decision.remaining,
    });
    const headers: Record<string, string> = {
      "ratelimit-policy": rateLimitPolicyField(this.#policy),
    };
    if (decision.retryInMs === Infinity) {
      headers.ratelimit = rateLimitField(
        this.#policy,
        decision.remaining,
        wholeSeconds(decision.fullInMs),
      );
      return problemResponse(
        problem(
          "rate-limited",
          `A batch of ${events} events is more than the ${this.#policy.quota} a principal ` +
            "may publish at once; send smaller batches",
        ),
        headers,
      );
    }
    const seconds = wholeSeconds(decision.retryInMs, 1);
    headers.ratelimit = rateLimitField(this.#policy, decision.remaining, seconds);
    headers["retry-after"] = String(seconds);
    return problemResponse(
      problem(
        "rate-limited",
        `Publish rate limit reached (${this.#perSecond} events/s, bursts of ` +
          `${this.#policy.quota}); retry in ${seconds} s`,
      ),
      headers,
    );
  }
}

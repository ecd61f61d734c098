/**
 * The HTTP API (Hono): publish endpoints, health, the OpenAPI document and the
 * docs page. Handlers validate with the event registry and hand envelopes to
 * the {@linkcode Publisher}.
 *
 * @module
 */
import { type Context, Hono } from "hono";
import { anonymousGatewayAuth, type GatewayAuth } from "../auth/gateway_auth.ts";
import { principalOf, requestOrigin } from "../auth/middleware.ts";
import { ADMIN_SCOPE } from "../auth/permissions.ts";
import type { Principal } from "../auth/principal.ts";
import type { LiveBus } from "../bus/live_bus.ts";
import { EventIdConflictError, EventLogUnavailableError } from "../errors.ts";
import type { EventRegistry } from "../events/registry.ts";
import {
  asCloudEventErrors,
  CLOUDEVENTS_MEDIA_TYPE,
  fromCloudEvent,
} from "../events/cloudevents.ts";
import { type Validated, validateData, validateEnvelope } from "../events/validate.ts";
import type { EventLog } from "../log/event_log.ts";
import type { Publisher, PublishOrigin } from "../publish/publisher.ts";
import type { Logger } from "../telemetry/logger.ts";
import type { Metrics, PublishErrorReason, PublishResult } from "../telemetry/metrics.ts";
import { carriedTrace } from "../telemetry/tracing.ts";
import { requestSpan, traceOf } from "./request_span.ts";
import { asyncApiDocument, type AsyncApiSettings } from "./asyncapi.ts";
import type { ConnectionCap } from "./connection_cap.ts";
import { readJsonBody } from "./json_body.ts";
import type { PublishLimit } from "./limits/publish_limit.ts";
import { metricsResponse } from "./metrics_app.ts";
import { docsPage, openApiDocument } from "./openapi.ts";
import { AllowedOrigins } from "./origins.ts";
import { securityHeaders } from "./security_headers.ts";
import {
  type Problem,
  problem,
  problemResponse,
  type ProblemType,
  problemType,
} from "./problem.ts";

/** Most events in one `POST /v1/events/batch`. */
export const MAX_BATCH_EVENTS = 500;
/** Seconds a client should wait before retrying after a `503`. */
export const RETRY_AFTER_SECONDS = 1;

/** What the HTTP API needs. */
export interface AppDeps {
  /** The write path. */
  publisher: Publisher;
  /** Registered event types. */
  registry: EventRegistry;
  /** The durable log, for readiness. */
  log: Pick<EventLog, "backend" | "ready">;
  /** The live bus, for readiness. */
  bus: LiveBus;
  /** Structured logger. */
  logger: Logger;
  /** Prometheus metrics. */
  metrics: Metrics;
  /** Largest body of a single event, in bytes. */
  bodyLimitBytes: number;
  /** Largest body of a batch, in bytes. */
  batchBodyLimitBytes: number;
  /** What the AsyncAPI document says about the deployment. */
  documents: AsyncApiSettings;
  /** Authentication and permissions (default: `auth.mode: none`, everyone anonymous). */
  auth?: GatewayAuth;
  /** The publish rate limit (default: none). */
  publishLimit?: PublishLimit;
  /** Browser origins allowed by CORS besides the gateway's own (default: none). */
  origins?: AllowedOrigins;
  /** The process's connection cap (default: none). */
  connectionCap?: ConnectionCap;
}

/** Who publishes: the trace context carried on, and the principal whose permissions apply. */
interface Caller extends PublishOrigin {
  /** The authenticated principal. */
  principal: Principal;
  /** The request, for the log line of a refusal. */
  context: Context;
}

type Outcome = { status: number; body: Record<string, unknown> | Problem };

/** How each problem counts in the publish metrics. */
const FAILURES: Partial<Record<ProblemType, [PublishResult, PublishErrorReason]>> = {
  "malformed-json": ["rejected", "malformed_json"],
  "not-i-json": ["rejected", "malformed_json"],
  "body-too-large": ["rejected", "too_large"],
  "unsupported-media-type": ["rejected", "unsupported_media_type"],
  "validation-failed": ["rejected", "validation"],
  "event-id-conflict": ["conflict", "conflict"],
  "log-unavailable": ["unavailable", "log_unavailable"],
  "forbidden": ["rejected", "forbidden"],
  "internal": ["error", "internal"],
};

/** Builds the gateway's Hono app. */
export function createApp(deps: AppDeps): Hono {
  const { publisher, registry, log, bus, logger, metrics } = deps;
  const auth = deps.auth ?? anonymousGatewayAuth(registry, logger, metrics);

  /** Counts one publish attempt; `eventType` is a registered type or `unknown`. */
  const count = (eventType: string, outcome: Outcome): Outcome => {
    if (outcome.status < 400) {
      const duplicate = outcome.status === 200;
      metrics.published.inc({
        event_type: eventType,
        result: duplicate ? "duplicate" : "accepted",
      });
      if (duplicate) metrics.dedupHits.inc();
      return outcome;
    }
    const [result, reason] = FAILURES[problemType(outcome.body as Problem)] ??
      ["error", "internal"];
    metrics.published.inc({ event_type: eventType, result });
    metrics.publishErrors.inc({ reason });
    return outcome;
  };
  const rejected = (p: Problem): Outcome => count("unknown", { status: p.status, body: p });
  /** The metric label of a body's `event_type`: registered types only, so cardinality stays bounded. */
  const typeLabel = (body: unknown): string => {
    const type = (body as { event_type?: unknown } | null)?.event_type;
    return typeof type === "string" && registry.has(type) ? type : "unknown";
  };
  const app = new Hono();

  app.use("*", requestSpan());
  app.use("*", securityHeaders());
  if (deps.connectionCap) app.use("*", deps.connectionCap.middleware());
  app.use("*", (deps.origins ?? new AllowedOrigins([])).cors());
  app.use("*", auth.middleware);
  /** The `429` when `c`'s principal may not publish `events` more now. */
  const rateLimited = (c: Context, events: number) => deps.publishLimit?.admit(c, events);

  const publishValidated = async (
    validated: Validated,
    origin: Caller,
    typeHint = "unknown",
  ): Promise<Outcome> => {
    if (!validated.ok) {
      return count(typeHint, {
        status: 422,
        body: problem("validation-failed", "See errors for each field", validated.errors),
      });
    }
    const refusal = auth.permissions.publish(origin.principal, validated.type, validated.envelope);
    if (refusal) {
      return count(validated.type.type, {
        status: 403,
        body: auth.refusals.forbiddenProblem(
          origin.principal,
          refusal,
          requestOrigin(origin.context),
        ),
      });
    }
    const started = performance.now();
    const outcome = await append(validated, origin);
    metrics.publishDuration.observe({ backend: log.backend }, (performance.now() - started) / 1000);
    if (logger.enabled("debug")) {
      const { event_id, event_type, partition, offset, duplicate } = outcome.body as Record<
        string,
        unknown
      >;
      logger.log("debug", "Publish", {
        status: outcome.status,
        event_id,
        event_type,
        partition,
        offset,
        duplicate,
      });
    }
    return count(validated.type.type, outcome);
  };

  const append = async (
    validated: Validated & { ok: true },
    origin: PublishOrigin,
  ): Promise<Outcome> => {
    try {
      const result = await publisher.publish(validated.envelope, validated.type, origin);
      return { status: result.duplicate ? 200 : 202, body: { ...result } };
    } catch (error) {
      if (error instanceof EventIdConflictError) {
        return { status: 409, body: problem("event-id-conflict", error.message) };
      }
      if (error instanceof EventLogUnavailableError) {
        return { status: 503, body: problem("log-unavailable", error.message) };
      }
      logger.log("error", "Publish failed", { error: String(error) });
      return { status: 500, body: problem("internal", "The event was not published") };
    }
  };

  const respond = (outcome: Outcome): Response => {
    if (outcome.status < 400) return Response.json(outcome.body, { status: outcome.status });
    const headers: Record<string, string> = outcome.status === 503
      ? { "retry-after": String(RETRY_AFTER_SECONDS) }
      : {};
    return problemResponse(outcome.body as Problem, headers);
  };

  /** The caller's trace context, carried into the record whether or not spans are recorded. */
  const callerOf = (c: Context): Caller => ({
    trace: carriedTrace({
      traceparent: c.req.header("traceparent"),
      tracestate: c.req.header("tracestate"),
    }),
    principal: principalOf(c),
    context: c,
    traceContext: traceOf(c),
  });

  for (const endpoint of registry.endpoints()) {
    app.post(endpoint.path, async (c) => {
      const limited = rateLimited(c, 1);
      if (limited) return limited;
      const read = await readJsonBody(c.req.raw, deps.bodyLimitBytes);
      if (!read.ok) return respond(rejected(read.problem));
      const validated = validateData(endpoint.type, read.body, c.req.header("idempotency-key"));
      return respond(await publishValidated(validated, callerOf(c), endpoint.type.type));
    });
  }

  app.post("/v1/events", async (c) => {
    const limited = rateLimited(c, 1);
    if (limited) return limited;
    const read = await readJsonBody(c.req.raw, deps.bodyLimitBytes);
    if (!read.ok) return respond(rejected(read.problem));
    if (read.mediaType === CLOUDEVENTS_MEDIA_TYPE) {
      const event = fromCloudEvent(read.body);
      if (!event.ok) {
        return respond(
          rejected(problem("validation-failed", "See errors for each attribute", event.errors)),
        );
      }
      const validated = validateEnvelope(registry, event.body);
      const caller = callerOf(c);
      const origin = {
        ...caller,
        source: event.source,
        trace: { ...caller.trace, ...carriedTrace(event.trace) },
      };
      return respond(
        await publishValidated(
          validated.ok ? validated : { ok: false, errors: asCloudEventErrors(validated.errors) },
          origin,
          typeLabel(event.body),
        ),
      );
    }
    return respond(
      await publishValidated(
        validateEnvelope(registry, read.body),
        callerOf(c),
        typeLabel(read.body),
      ),
    );
  });

  app.post("/v1/events/batch", async (c) => {
    const read = await readJsonBody(c.req.raw, deps.batchBodyLimitBytes);
    if (!read.ok) return respond(rejected(read.problem));
    const body = read.body as { events?: unknown };
    const events = body?.events;
    if (!Array.isArray(events) || events.length === 0 || events.length > MAX_BATCH_EVENTS) {
      return respond(rejected(problem("validation-failed", "See errors", [{
        pointer: "/events",
        detail: `must be an array of 1 to ${MAX_BATCH_EVENTS} events`,
      }])));
    }
    const limited = rateLimited(c, events.length);
    if (limited) return limited;
    const origin = callerOf(c);
    const outcomes = await Promise.all(
      events.map((e) => publishValidated(validateEnvelope(registry, e), origin, typeLabel(e))),
    );
    return c.json({
      results: outcomes.map((o) => ({ status: o.status, ...o.body })),
    });
  });

  app.get("/healthz", (c) => c.json({ status: "ok" }));

  app.get("/metrics", (c) => {
    const principal = principalOf(c);
    const refusal = auth.permissions.scope(principal, ADMIN_SCOPE);
    if (refusal) return auth.refusals.forbidden(principal, refusal, requestOrigin(c));
    return metricsResponse(metrics);
  });

  app.get("/readyz", async (c) => {
    const logUp = await log.ready();
    const busUp = bus.connected();
    const status = !logUp ? "unavailable" : busUp ? "ready" : "degraded";
    return c.json({
      status,
      components: {
        log: { backend: log.backend, status: logUp ? "up" : "down" },
        bus: { backend: bus.backend, status: busUp ? "up" : "down" },
      },
    }, logUp ? 200 : 503);
  });

  const openapi = JSON.stringify(openApiDocument(registry));
  app.get("/openapi.json", (c) => c.body(openapi, 200, { "content-type": "application/json" }));
  const asyncapi = JSON.stringify(asyncApiDocument(registry, deps.documents));
  app.get("/asyncapi.json", (c) => c.body(asyncapi, 200, { "content-type": "application/json" }));
  const docs = docsPage(registry);
  app.get("/docs", (c) => c.html(docs));
  app.get("/", (c) => c.redirect("/docs"));

  app.notFound((c) =>
    problemResponse(problem("not-found", `No route for ${c.req.method} ${c.req.path}`))
  );
  app.onError((error) => {
    logger.log("error", "Unhandled request error", { error: String(error) });
    return problemResponse(problem("internal", "The request failed"));
  });
  return app;
}

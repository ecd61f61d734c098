/**
 * The OpenAPI document and the docs page, both generated from the event
 * registry's zod schemas.
 *
 * @module
 */
import { z } from "zod";
import { EventId } from "../events/envelope.ts";
import type { Endpoint, EventRegistry, EventType } from "../events/registry.ts";
import { subscriptionQuerySchema } from "../subscribe/request.ts";
import { PROBLEMS, type ProblemType } from "./problem.ts";

type JsonSchema = Record<string, unknown>;

const toSchema = (schema: z.ZodType): JsonSchema => {
  const { $schema: _, ...rest } = z.toJSONSchema(schema, { io: "input", unrepresentable: "any" });
  return rest as JsonSchema;
};

const PublishResult: JsonSchema = {
  type: "object",
  required: ["event_id", "event_type", "topic", "partition", "offset", "duplicate"],
  properties: {
    event_id: { type: "string" },
    event_type: { type: "string" },
    topic: { type: "string" },
    partition: { type: "integer" },
    offset: { type: "string", description: "Offset in the partition, as a decimal string." },
    duplicate: { type: "boolean" },
  },
};

const Problem: JsonSchema = {
  type: "object",
  required: ["type", "title", "status", "detail"],
  properties: {
    type: { type: "string" },
    title: { type: "string" },
    status: { type: "integer" },
    detail: { type: "string" },
    errors: {
      type: "array",
      items: {
        type: "object",
        properties: { pointer: { type: "string" }, detail: { type: "string" } },
      },
    },
  },
};

const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
const json = (schema: JsonSchema) => ({ content: { "application/json": { schema } } });
const problems = (...types: ProblemType[]) =>
  Object.fromEntries(types.map((t) => [
    String(PROBLEMS[t].status),
    {
      description: PROBLEMS[t].title,
      content: { "application/problem+json": { schema: ref("Problem") } },
    },
  ]));

/** The component name of an endpoint's request body. */
const endpointSchemaName = (e: Endpoint) => `${e.type.type}${e.type.version.toUpperCase()}Data`;

/** The subscription query parameters, from the schema that validates them. */
function subscriptionParameters(registry: EventRegistry): JsonSchema[] {
  const shape = toSchema(subscriptionQuerySchema(registry)) as {
    properties: Record<string, JsonSchema>;
  };
  return Object.entries(shape.properties).map(([name, schema]) => ({
    name,
    in: "query",
    required: false,
    schema,
  }));
}

/** Builds the OpenAPI 3.1 document. */
export function openApiDocument(registry: EventRegistry): JsonSchema {
  const envelopes = Object.fromEntries(
    registry.list().map((t) => [`${t.type}${t.version.toUpperCase()}`, {
      ...toSchema(t.envelope),
      examples: [{ event_type: t.type, version: t.version, data: t.example }],
    }]),
  );
  const anyEnvelope = { oneOf: Object.keys(envelopes).map(ref) };
  const publishResponses = {
    "202": { description: "Stored durably", ...json(ref("PublishResult")) },
    "200": {
      description: "Duplicate of an earlier event with this id",
      ...json(ref("PublishResult")),
    },
    ...problems(
      "malformed-json",
      "unauthorized",
      "forbidden",
      "event-id-conflict",
      "body-too-large",
      "unsupported-media-type",
      "validation-failed",
      "log-unavailable",
    ),
  };
  return {
    openapi: "3.1.0",
    info: {
      title: "TasteSync Event Gateway",
      version: "1.0.0",
      description:
        "HTTP facade in front of a durable event log (Apache Kafka or embedded) and NATS.",
    },
    paths: {
      ...Object.fromEntries(
        registry.endpoints().map((e) => [e.path, {
          post: {
            summary: e.summary,
            parameters: [{
              name: "Idempotency-Key",
              in: "header",
              required: false,
              description: "Alias for event_id.",
              schema: toSchema(EventId),
            }],
            requestBody: { required: true, ...json(ref(endpointSchemaName(e))) },
            responses: publishResponses,
          },
        }]),
      ),
      "/v1/events": {
        post: {
          summary: "Publish a full envelope of any registered type, or a structured CloudEvent",
          requestBody: {
            required: true,
            content: {
              "application/json": { schema: anyEnvelope },
              "application/cloudevents+json": {
                schema: {
                  type: "object",
                  required: ["specversion", "id", "source", "type", "data"],
                  description:
                    "CloudEvents 1.0 structured mode: id, type, time, dataversion (or dataschema) " +
                    "and data map to event_id, event_type, timestamp, version and data.",
                },
              },
            },
          },
          responses: publishResponses,
        },
      },
      "/v1/events/batch": {
        post: {
          summary: `Publish up to 500 envelopes; each succeeds or fails on its own`,
          requestBody: {
            required: true,
            ...json({
              type: "object",
              required: ["events"],
              properties: { events: { type: "array", maxItems: 500, items: anyEnvelope } },
            }),
          },
          responses: {
            "200": {
              description: "One result per event, in order, each with its own status",
              ...json({
                type: "object",
                properties: {
                  results: {
                    type: "array",
                    items: {
                      allOf: [{ type: "object", properties: { status: { type: "integer" } } }],
                    },
                  },
                },
              }),
            },
            ...problems(
              "malformed-json",
              "unauthorized",
              "body-too-large",
              "unsupported-media-type",
              "validation-failed",
            ),
          },
        },
      },
      "/v1/subscribe": {
        get: {
          summary:
            "Subscribe over WebSocket (frames: ready, event, heartbeat, error; client sends ack)",
          parameters: subscriptionParameters(registry),
          responses: {
            "101": { description: "Switching to the WebSocket protocol" },
            ...problems("bad-subscription", "unauthorized", "forbidden", "upgrade-required"),
          },
        },
      },
      "/v1/stream": {
        get: {
          summary: "Subscribe over Server-Sent Events (id: cursor, event: type, data: envelope)",
          parameters: [
            ...subscriptionParameters(registry),
            {
              name: "Last-Event-ID",
              in: "header",
              required: false,
              description: "A cursor to resume from (instead of from).",
              schema: { type: "string" },
            },
            {
              name: "access_token",
              in: "query",
              required: false,
              description: "The bearer token, for EventSource, which cannot set headers.",
              schema: { type: "string" },
            },
          ],
          responses: {
            "200": {
              description: "An event stream",
              content: { "text/event-stream": { schema: { type: "string" } } },
            },
            ...problems("bad-subscription", "unauthorized", "forbidden", "log-unavailable"),
          },
        },
      },
      "/asyncapi.json": {
        get: {
          summary: "The AsyncAPI 3.0 document: topic, subjects, subscription frames",
          responses: { "200": { description: "AsyncAPI JSON" } },
        },
      },
      "/metrics": {
        get: {
          summary: "Prometheus metrics",
          responses: {
            "200": { description: "Prometheus text format" },
            ...problems("unauthorized", "forbidden"),
          },
        },
      },
      "/healthz": {
        get: { summary: "Liveness", responses: { "200": { description: "The process is up" } } },
      },
      "/readyz": {
        get: {
          summary: "Readiness: ready only while the durable log is reachable",
          responses: {
            "200": { description: "Ready, or degraded when NATS is down" },
            "503": { description: "The durable log is unreachable" },
          },
        },
      },
    },
    // With auth.mode: none no credential is needed; with required, a bearer token.
    security: [{ bearer: [] }, {}],
    components: {
      securitySchemes: {
        bearer: {
          type: "http",
          scheme: "bearer",
          description: "An API key (tsk_...) or a JWT; see the README's Security section. " +
            "WebSocket clients may offer the subprotocol bearer.<token> next to tastesync.v1.",
        },
      },
      schemas: {
        ...envelopes,
        ...Object.fromEntries(
          registry.endpoints().map((e) => [endpointSchemaName(e), {
            ...toSchema(e.type.data.extend({ event_id: EventId.optional() })),
            examples: [e.type.example],
          }]),
        ),
        PublishResult,
        Problem,
      },
    },
  };
}

const escape = (s: string) =>
  s.replaceAll("&", "&amp;").replaceAll("<", "&lt;").replaceAll(">", "&gt;").replaceAll(
    '"',
    "&quot;",
  );

function fieldRows(schema: JsonSchema, prefix = ""): string[] {
  const props = (schema.properties ?? {}) as Record<string, JsonSchema>;
  const required = new Set((schema.required ?? []) as string[]);
  return Object.entries(props).flatMap(([name, prop]) => {
    const path = prefix + name;
    const limits = ["minimum", "maximum", "minLength", "maxLength", "pattern", "format"]
      .filter((k) => prop[k] !== undefined).map((k) => `${k}: ${prop[k]}`).join(", ");
    const row = `<tr><td><code>${escape(path)}</code></td><td>${escape(String(prop.type ?? ""))}${
      required.has(name) ? "" : " (optional)"
    }</td><td>${escape(String(prop.description ?? ""))}</td><td>${escape(limits)}</td></tr>`;
    return prop.type === "object" ? [row, ...fieldRows(prop, `${path}.`)] : [row];
  });
}

const example = (t: EventType) => ({
  event_id: "evt-uuid-1234-5678-9012",
  event_type: t.type,
  timestamp: "2025-03-02T12:00:00Z",
  version: t.version,
  data: t.example,
});

function typeSection(t: EventType): string {
  const d = t.definition;
  const filters = Object.entries(d.filters).map(([name, f]) =>
    `<code>${escape(name)}</code> (${escape(f.path)}, ${f.match})`
  ).join(", ");
  return `<h3 id="${t.type}-${t.version}">${t.type} ${t.version}</h3><p>${escape(d.description)}</p>
<p>Partition key <code>${escape(d.partitionKey)}</code>; tenant (venue) <code>${
    escape(d.tenant)
  }</code>; live subject <code>&lt;prefix&gt;.${escape(d.subject)}</code>${
    d.endpoint ? `; endpoint <code>POST ${escape(d.endpoint.path)}</code>` : ""
  }; filters: ${filters || "none"}.</p>
<table><tr><th>data field</th><th>type</th><th>meaning</th><th>limits</th></tr>${
    fieldRows(toSchema(t.data)).join("")
  }</table>
<p>Example:</p><pre>${escape(JSON.stringify(example(t), null, 2))}</pre>`;
}

/** Builds the human-readable docs page. */
export function docsPage(registry: EventRegistry): string {
  const types = registry.list().map(typeSection).join("\n");
  const endpoints = registry.endpoints().map((e) =>
    `<li><code>POST ${escape(e.path)}</code>: ${
      escape(e.summary)
    } (the <code>data</code> fields of ${e.type.type} ${e.type.version}, optional <code>event_id</code> or <code>Idempotency-Key</code> header).</li>`
  ).join("\n");
  const filters = [...registry.filters().keys()].map((f) => `<code>${escape(f)}</code>`).join(
    ", ",
  );
  const first = registry.list()[0];
  const problemRows = Object.entries(PROBLEMS).map(([name, p]) =>
    `<tr id="problem-${name}"><td><code>${name}</code></td><td>${p.status}</td><td>${
      escape(p.title)
    }</td></tr>`
  ).join("");
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>TasteSync Event Gateway</title>
<style>body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem}
table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.3rem .5rem;text-align:left}</style></head>
<body><h1>TasteSync Event Gateway</h1>
<p>Publish domain events over HTTP; they are stored durably before the gateway answers.
Machine-readable: <a href="/openapi.json">/openapi.json</a> (HTTP API) and
<a href="/asyncapi.json">/asyncapi.json</a> (topic, subjects, subscription frames).</p>
<h2>Endpoints</h2><ul>
<li><code>POST /v1/events</code>: a full envelope <code>{event_id?, event_type, timestamp?, version, data}</code>
(<code>version</code> is <code>"v1"</code>; the integer <code>1</code> is accepted as an alias), or a structured
CloudEvent (<code>application/cloudevents+json</code>).</li>
${endpoints}
<li><code>POST /v1/events/batch</code>: <code>{"events": [...]}</code>, up to 500, one result each.</li>
<li><code>GET /v1/subscribe</code> (WebSocket) and <code>GET /v1/stream</code> (Server-Sent Events): subscriptions with <code>topic</code>, <code>event_type</code>, <code>mode</code>, <code>group</code>, <code>from</code> and the filters ${filters}.</li>
<li><code>GET /healthz</code>, <code>GET /readyz</code>, <code>GET /metrics</code>.</li></ul>
${
    first
      ? `<p>Example:</p><pre>curl -X POST http://localhost:8080/v1/events \\
  -H 'content-type: application/json' \\
  -d '${escape(JSON.stringify(example(first)))}'</pre>`
      : ""
  }
<p>202: stored. 200: the same <code>event_id</code> with the same content was stored before (<code>duplicate: true</code>).</p>
<h2>Event types</h2>${types}
<h2>Problems</h2><p>Errors are <code>application/problem+json</code> (RFC 9457).</p>
<table><tr><th>type</th><th>status</th><th>title</th></tr>${problemRows}</table>
</body></html>`;
}

/**
 * The AsyncAPI 3.0 document (`GET /asyncapi.json`), generated from the event
 * registry: the Kafka topic (key, headers, partitions), the NATS subjects, and
 * the WebSocket and Server-Sent Events channels with their frames and close
 * codes.
 *
 * @module
 */
import { z } from "zod";
import type { EventRegistry, EventType } from "../events/registry.ts";
import { subscriptionQuerySchema } from "../subscribe/request.ts";
import { CLOSE_CODES, FRAME_TYPES } from "./subscribe/frames.ts";

type JsonSchema = Record<string, unknown>;

/** What the document says about the deployment it describes. */
export interface AsyncApiSettings {
  /** The durable topic. */
  topic: string;
  /** Partitions of the topic. */
  partitions: number;
  /** Prefix of the live subjects: `<prefix>.<type subject>`. */
  subjectPrefix: string;
}

const toSchema = (schema: z.ZodType): JsonSchema => {
  const { $schema: _, ...rest } = z.toJSONSchema(schema, { io: "input", unrepresentable: "any" });
  return rest as JsonSchema;
};

const messageName = (t: EventType) => `${t.type}${t.version.toUpperCase()}`;

/** The headers of every record and live message. */
const RECORD_HEADERS: JsonSchema = {
  type: "object",
  properties: {
    "tastesync-event-id": { type: "string", description: "The event id (dedup index)." },
    "tastesync-fingerprint": { type: "string", description: "SHA-256 of type, version, data." },
    ce_specversion: { const: "1.0", description: "CloudEvents Kafka binding (binary mode)." },
    ce_id: { type: "string", description: "= event_id" },
    ce_type: { type: "string", description: "= event_type" },
    ce_source: { type: "string", description: "The CloudEvents source of the publisher." },
    ce_time: { type: "string", description: "= timestamp" },
    ce_dataversion: { type: "string", description: "= version" },
    "content-type": { const: "application/json" },
    traceparent: { type: "string", description: "W3C trace context." },
    tracestate: { type: "string", description: "W3C trace state." },
  },
};

const frame = (type: string, description: string, properties: JsonSchema = {}) => ({
  name: type,
  title: `${type} frame`,
  summary: description,
  contentType: "application/json",
  payload: {
    type: "object",
    required: ["type"],
    properties: { type: { const: type }, ...properties },
  },
});

type FrameType = keyof typeof FRAME_TYPES;

const FRAMES: Record<FrameType, ReturnType<typeof frame>> = {
  ready: frame(
    FRAME_TYPES.ready,
    "The subscription is live; durable lanes give the starting cursor.",
    {
      mode: { enum: ["durable", "live"] },
      topic: { type: "string" },
      group: { type: "string" },
      cursor: { type: "string", description: "Resume point: the next offset of every partition." },
    },
  ),
  event: frame(FRAME_TYPES.event, "One event; `cursor` resumes after it (null on the live lane).", {
    cursor: { type: ["string", "null"] },
    durable: {
      const: false,
      description: "Present on the live lane when the event was mirrored before its durable " +
        "write was acknowledged (nats.mirror: immediate); that write may still fail.",
    },
    traceparent: { type: "string", description: "W3C trace context of the delivery." },
    event: { $ref: "#/components/schemas/Envelope" },
  }),
  ack: frame(
    FRAME_TYPES.ack,
    "Client to gateway: the event with this cursor is processed (groups).",
    {
      cursor: { type: "string" },
    },
  ),
  acked: frame(
    FRAME_TYPES.acked,
    "The ack with this cursor is committed to the group; the event will not be delivered to the " +
      "group again. One per ack, once committed; an ack never confirmed may be redelivered.",
    {
      cursor: { type: "string" },
    },
  ),
  auth: frame(
    FRAME_TYPES.auth,
    "Client to gateway: a fresh token for the same principal before the current one expires. " +
      "A token that does not authenticate closes with 4401, one for another principal or other " +
      "venues with 4403.",
    {
      token: { type: "string" },
    },
  ),
  heartbeat: frame(FRAME_TYPES.heartbeat, "Sent when the connection is otherwise quiet."),
  error: frame(FRAME_TYPES.error, "Why the gateway is closing the subscription.", {
    error: { type: "string" },
    detail: { type: "string" },
  }),
};

/** Frames the gateway sends over WebSocket (the client sends only `ack` and `auth`). */
const WEBSOCKET_FRAMES: FrameType[] = ["ready", "event", "acked", "heartbeat", "error"];
/** Frames that are SSE events (heartbeats are SSE comments; SSE clients cannot ack). */
const SSE_FRAMES: FrameType[] = ["ready", "event", "error"];

const closeCodes = Object.entries(CLOSE_CODES).map(([cause, code]) => `${code}: ${cause}`)
  .join("; ");

/** Builds the AsyncAPI 3.0 document of `registry`'s types for `settings`. */
export function asyncApiDocument(registry: EventRegistry, settings: AsyncApiSettings): JsonSchema {
  const types = registry.list();
  const messages = Object.fromEntries(types.map((t) => [messageName(t), {
    name: messageName(t),
    title: `${t.type} ${t.version}`,
    summary: t.definition.description,
    contentType: "application/json",
    headers: RECORD_HEADERS,
    payload: {
      ...toSchema(t.envelope.required({ event_id: true, timestamp: true })),
      description: "The envelope as stored, mirrored and delivered.",
    },
    correlationId: { location: "$message.payload#/event_id" },
    bindings: {
      kafka: {
        key: { type: "string", description: `Partition key: ${t.definition.partitionKey}` },
        bindingVersion: "0.5.0",
      },
    },
    examples: [{
      name: "example",
      payload: {
        event_id: "evt-uuid-1234-5678-9012",
        event_type: t.type,
        timestamp: "2025-03-02T12:00:00Z",
        version: t.version,
        data: t.example,
      },
    }],
  }]));
  const messageRefs = (channel: string) =>
    Object.keys(messages).map((name) => ({ $ref: `#/channels/${channel}/messages/${name}` }));
  const allMessages = Object.fromEntries(
    Object.keys(messages).map((name) => [name, { $ref: `#/components/messages/${name}` }]),
  );
  const liveChannels = Object.fromEntries(
    registry.definitions().map((d) => {
      const own = types.filter((t) => t.type === d.name).map(messageName);
      return [`live-${d.subject}`, {
        address: `${settings.subjectPrefix}.${d.subject}`,
        title: `${d.name} live mirror`,
        description: "Published after (or alongside) the durable write; at most once.",
        servers: [{ $ref: "#/servers/nats" }],
        messages: Object.fromEntries(
          own.map((name) => [name, { $ref: `#/components/messages/${name}` }]),
        ),
      }];
    }),
  );
  const query = toSchema(subscriptionQuerySchema(registry));
  const frames = Object.fromEntries(
    Object.keys(FRAMES).map((name) => [name, { $ref: `#/components/messages/${name}Frame` }]),
  );
  return {
    asyncapi: "3.0.0",
    info: {
      title: "TasteSync Event Gateway",
      version: "1.0.0",
      description:
        "Events published over HTTP are stored in the durable log (Kafka topic), mirrored " +
        "to NATS, and delivered over WebSocket and Server-Sent Events.",
    },
    defaultContentType: "application/json",
    servers: {
      gateway: {
        host: "localhost:8080",
        protocol: "ws",
        description: "The gateway's WebSocket endpoint.",
      },
      "gateway-sse": {
        host: "localhost:8080",
        protocol: "http",
        description: "The gateway's Server-Sent Events endpoint.",
      },
      kafka: { host: "localhost:9092", protocol: "kafka", description: "The durable log." },
      nats: { host: "localhost:4222", protocol: "nats", description: "The live mirror." },
    },
    channels: {
      log: {
        address: settings.topic,
        title: "Durable event log",
        description: `Kafka topic, ${settings.partitions} partitions, keyed by each type's ` +
          "partition key; idempotent, acks=all.",
        servers: [{ $ref: "#/servers/kafka" }],
        messages: allMessages,
        bindings: { kafka: { topic: settings.topic, partitions: settings.partitions } },
      },
      ...liveChannels,
      subscribe: {
        address: "/v1/subscribe",
        title: "WebSocket subscription",
        description: `Frames ready, event, heartbeat, error (gateway) and ack, auth (client). ` +
          `Close codes: ${closeCodes}.`,
        servers: [{ $ref: "#/servers/gateway" }],
        messages: frames,
        bindings: { ws: { method: "GET", query } },
      },
      stream: {
        address: "/v1/stream",
        title: "Server-Sent Events subscription",
        description: "SSE events: `ready`, one per event named by its event_type " +
          "(id: the cursor), `heartbeat` comments, `error`. Resume with Last-Event-ID.",
        servers: [{ $ref: "#/servers/gateway-sse" }],
        messages: Object.fromEntries(
          SSE_FRAMES.map((name) => [name, {
            $ref: `#/components/messages/${name}Frame`,
          }]),
        ),
        bindings: { http: { method: "GET", query } },
      },
    },
    operations: {
      appendToLog: {
        action: "send",
        title: "The gateway appends each accepted event",
        channel: { $ref: "#/channels/log" },
        messages: messageRefs("log"),
      },
      ...Object.fromEntries(
        Object.keys(liveChannels).map((channel) => [`mirror-${channel}`, {
          action: "send",
          channel: { $ref: `#/channels/${channel}` },
          messages: Object.keys((liveChannels[channel] as { messages: object }).messages).map((
            name,
          ) => ({ $ref: `#/channels/${channel}/messages/${name}` })),
        }]),
      ),
      receiveOverWebSocket: {
        action: "receive",
        title: "A client receives frames",
        channel: { $ref: "#/channels/subscribe" },
        messages: WEBSOCKET_FRAMES.map((name) => ({
          $ref: `#/channels/subscribe/messages/${name}`,
        })),
      },
      ackOverWebSocket: {
        action: "send",
        title: "A client acknowledges an event",
        channel: { $ref: "#/channels/subscribe" },
        messages: [{ $ref: "#/channels/subscribe/messages/ack" }],
      },
      renewOverWebSocket: {
        action: "send",
        title: "A client renews its credential",
        channel: { $ref: "#/channels/subscribe" },
        messages: [{ $ref: "#/channels/subscribe/messages/auth" }],
      },
      receiveOverSse: {
        action: "receive",
        channel: { $ref: "#/channels/stream" },
        messages: SSE_FRAMES.map((name) => ({
          $ref: `#/channels/stream/messages/${name}`,
        })),
      },
    },
    components: {
      schemas: {
        Envelope: {
          type: "object",
          required: ["event_id", "event_type", "timestamp", "version", "data"],
          properties: {
            event_id: { type: "string" },
            event_type: { enum: registry.names() },
            timestamp: { type: "string", format: "date-time" },
            version: { type: "string", pattern: "^v[1-9][0-9]*$" },
            data: { type: "object" },
          },
        },
      },
      messages: {
        ...messages,
        ...Object.fromEntries(Object.entries(FRAMES).map(([name, m]) => [`${name}Frame`, m])),
      },
    },
  };
}

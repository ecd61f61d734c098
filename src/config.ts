/**
 * Settings: one zod schema, read from a YAML or JSON file and overridden by
 * `TASTESYNC_*` environment variables. Defaults are the named constants below.
 *
 * @module
 */
import { parse as parseYaml } from "yaml";
import { z } from "zod";
import { ConfigError } from "./errors.ts";
import { LOG_LEVELS } from "./telemetry/logger.ts";

/** Default HTTP port. */
export const DEFAULT_HTTP_PORT = 8080;
/** Default largest request body of a single event, in bytes. */
export const DEFAULT_BODY_LIMIT_BYTES = 64 * 1024;
/** Default largest body of `POST /v1/events/batch`, in bytes. */
export const DEFAULT_BATCH_BODY_LIMIT_BYTES = 1024 * 1024;
/** Default topic of customer events. */
export const DEFAULT_TOPIC = "customer-events";
/** Default partitions of a topic the gateway creates. */
export const DEFAULT_PARTITIONS = 3;
/** Default NATS subject prefix of the hot mirror. */
export const DEFAULT_SUBJECT_PREFIX = "notifications";
/** Default dedup window: 24 hours. */
export const DEFAULT_DEDUP_WINDOW = "24h";
/** Longest a graceful shutdown may take before the process exits anyway. */
export const DEFAULT_SHUTDOWN_TIMEOUT = "10s";
/**
 * Default stall timeout: how long a durable subscription's client may read
 * nothing while events wait for it before it is disconnected (`4429`).
 */
export const DEFAULT_STALL_TIMEOUT = "30s";
/** Longest a publish waits for Kafka before it is answered `503`, in ms. */
export const DEFAULT_PUBLISH_TIMEOUT_MS = 5000;
/** How long a broker request may take before it is retried, in ms. */
export const DEFAULT_REQUEST_TIMEOUT_MS = 2000;

const DURATION_UNITS_MS: Record<string, number> = {
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
};

/** A duration as milliseconds, or a string like `250ms`, `30s`, `24h`, `7d`. */
const Duration = z.union([
  z.number().int().positive(),
  z.string().regex(/^\d+(ms|s|m|h|d)?$/, {
    message: "must be a duration like 500ms, 30s, 24h or 7d",
  })
    .transform((s) => {
      const [, n, unit] = s.match(/^(\d+)(ms|s|m|h|d)?$/)!;
      return Number(n) * DURATION_UNITS_MS[unit ?? "ms"];
    }),
]);

const Port = z.coerce.number().int().min(0).max(65535);
const PositiveInt = z.coerce.number().int().positive();

const BrokerList = z.preprocess(
  (v) => typeof v === "string" ? v.split(",").map((s) => s.trim()).filter(Boolean) : v,
  z.array(z.string().regex(/^[^\s:]+:\d{1,5}$/, { message: "must be host:port" })),
);

/** The schema of all settings. */
export const ConfigSchema = z.object({
  http: z.object({
    host: z.string().min(1).default("0.0.0.0"),
    port: Port.default(DEFAULT_HTTP_PORT),
    body_limit_bytes: PositiveInt.default(DEFAULT_BODY_LIMIT_BYTES),
    batch_body_limit_bytes: PositiveInt.default(DEFAULT_BATCH_BODY_LIMIT_BYTES),
    shutdown_timeout: Duration.prefault(DEFAULT_SHUTDOWN_TIMEOUT),
  }).strict().prefault({}),
  kafka: z.object({
    /** The source design's single broker; joins `brokers`. */
    broker: z.string().regex(/^[^\s:]+:\d{1,5}$/, { message: "must be host:port" }).optional(),
    brokers: BrokerList.default([]),
    topic: z.string().regex(/^[A-Za-z0-9._-]{1,249}$/, {
      message: "must be a valid Kafka topic name",
    })
      .default(DEFAULT_TOPIC),
    partitions: PositiveInt.default(DEFAULT_PARTITIONS),
    replication_factor: PositiveInt.default(1),
    client_id: z.string().min(1).default("tastesync-gateway"),
    max_batch: PositiveInt.max(10_000).default(500),
    linger_ms: z.coerce.number().int().min(0).max(1000).default(0),
    retries: z.coerce.number().int().min(1).max(10).default(3),
    initial_retry_ms: PositiveInt.default(100),
    connection_timeout_ms: PositiveInt.default(1000),
    request_timeout_ms: PositiveInt.default(DEFAULT_REQUEST_TIMEOUT_MS),
    publish_timeout_ms: PositiveInt.default(DEFAULT_PUBLISH_TIMEOUT_MS),
  }).strict().prefault({}),
  nats: z.object({
    url: z.string().default(""),
    subject_prefix: z.string().regex(/^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/, {
      message: "must be dot-separated tokens of A-Z, a-z, 0-9, '_' or '-'",
    }).default(DEFAULT_SUBJECT_PREFIX),
  }).strict().prefault({}),
  embedded: z.object({
    data_dir: z.string().min(1).default("./data"),
    sync: z.enum(["full", "normal"]).default("full"),
  }).strict().prefault({}),
  dedup: z.object({
    window: Duration.prefault(DEFAULT_DEDUP_WINDOW),
  }).strict().prefault({}),
  subscriptions: z.object({
    ack_timeout: Duration.prefault("30s"),
    stall_timeout: Duration.prefault(DEFAULT_STALL_TIMEOUT),
    max_queue_events: PositiveInt.default(1000),
    max_queue_bytes: PositiveInt.default(1024 * 1024),
    max_frame_bytes: PositiveInt.default(4096),
    heartbeat: Duration.prefault("15s"),
    sse_retry: Duration.prefault("2s"),
  }).strict().prefault({}),
  log: z.object({
    level: z.enum(LOG_LEVELS).default("info"),
  }).strict().prefault({}),
}).strict();

/** All settings, with defaults applied and durations in ms. */
export type Config = z.infer<typeof ConfigSchema>;

/** Environment variables and the setting each overrides. */
export const ENV_KEYS: Readonly<Record<string, readonly [string, string]>> = {
  TASTESYNC_HTTP_HOST: ["http", "host"],
  TASTESYNC_HTTP_PORT: ["http", "port"],
  TASTESYNC_HTTP_BODY_LIMIT_BYTES: ["http", "body_limit_bytes"],
  TASTESYNC_HTTP_BATCH_BODY_LIMIT_BYTES: ["http", "batch_body_limit_bytes"],
  TASTESYNC_HTTP_SHUTDOWN_TIMEOUT: ["http", "shutdown_timeout"],
  TASTESYNC_KAFKA_BROKERS: ["kafka", "brokers"],
  TASTESYNC_KAFKA_TOPIC: ["kafka", "topic"],
  TASTESYNC_KAFKA_PARTITIONS: ["kafka", "partitions"],
  TASTESYNC_KAFKA_REPLICATION_FACTOR: ["kafka", "replication_factor"],
  TASTESYNC_KAFKA_CLIENT_ID: ["kafka", "client_id"],
  TASTESYNC_KAFKA_MAX_BATCH: ["kafka", "max_batch"],
  TASTESYNC_KAFKA_LINGER_MS: ["kafka", "linger_ms"],
  TASTESYNC_KAFKA_RETRIES: ["kafka", "retries"],
  TASTESYNC_KAFKA_REQUEST_TIMEOUT_MS: ["kafka", "request_timeout_ms"],
  TASTESYNC_KAFKA_PUBLISH_TIMEOUT_MS: ["kafka", "publish_timeout_ms"],
  TASTESYNC_NATS_URL: ["nats", "url"],
  TASTESYNC_NATS_SUBJECT_PREFIX: ["nats", "subject_prefix"],
  TASTESYNC_DATA_DIR: ["embedded", "data_dir"],
  TASTESYNC_EMBEDDED_SYNC: ["embedded", "sync"],
  TASTESYNC_DEDUP_WINDOW: ["dedup", "window"],
  TASTESYNC_SUBSCRIPTIONS_ACK_TIMEOUT: ["subscriptions", "ack_timeout"],
  TASTESYNC_SUBSCRIPTIONS_STALL_TIMEOUT: ["subscriptions", "stall_timeout"],
  TASTESYNC_SUBSCRIPTIONS_MAX_QUEUE_EVENTS: ["subscriptions", "max_queue_events"],
  TASTESYNC_SUBSCRIPTIONS_MAX_QUEUE_BYTES: ["subscriptions", "max_queue_bytes"],
  TASTESYNC_SUBSCRIPTIONS_HEARTBEAT: ["subscriptions", "heartbeat"],
  TASTESYNC_LOG_LEVEL: ["log", "level"],
};

/** The brokers to use: `kafka.brokers` plus the design's single `kafka.broker`. */
export function kafkaBrokers(config: Config): string[] {
  const brokers = [...config.kafka.brokers];
  if (config.kafka.broker && !brokers.includes(config.kafka.broker)) {
    brokers.unshift(config.kafka.broker);
  }
  return brokers;
}

/**
 * Builds the settings from an optional file's text and the environment.
 *
 * @throws {ConfigError} naming the first invalid key (or environment variable).
 */
export function parseConfig(
  fileText: string | undefined,
  env: Record<string, string | undefined>,
  source = "config file",
): Config {
  let raw: unknown = {};
  if (fileText !== undefined) {
    try {
      raw = parseYaml(fileText) ?? {};
    } catch (error) {
      throw new ConfigError(source, "is not valid YAML or JSON", { cause: error });
    }
    if (typeof raw !== "object" || Array.isArray(raw)) {
      throw new ConfigError(source, "must be a mapping of sections");
    }
  }
  const merged = structuredClone(raw) as Record<string, Record<string, unknown>>;
  const fromEnv = new Map<string, string>();
  for (const [name, [section, key]] of Object.entries(ENV_KEYS)) {
    const value = env[name];
    if (value === undefined || value === "") continue;
    merged[section] = { ...(merged[section] ?? {}), [key]: value };
    fromEnv.set(`${section}.${key}`, name);
  }
  const result = ConfigSchema.safeParse(merged);
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  const key = issue.path.join(".") ||
    (issue.code === "unrecognized_keys" ? issue.keys.join(", ") : source);
  const named = issue.code === "unrecognized_keys" && issue.path.length > 0
    ? `${key}.${issue.keys[0]}`
    : key;
  const envName = fromEnv.get(named);
  throw new ConfigError(
    envName ? `${named} (${envName})` : named,
    issue.code === "unrecognized_keys" ? "is not a known setting" : issue.message,
  );
}

/** Reads `--config PATH` (if given) and the process environment. */
export async function loadConfig(args: string[], env = Deno.env.toObject()): Promise<Config> {
  const at = args.findIndex((a) => a === "--config" || a.startsWith("--config="));
  if (at === -1) return parseConfig(undefined, env);
  const path = args[at].includes("=") ? args[at].slice("--config=".length) : args[at + 1];
  if (!path) throw new ConfigError("--config", "needs a file path");
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (error) {
    throw new ConfigError("--config", `cannot read ${path}`, { cause: error });
  }
  return parseConfig(text, env, path);
}

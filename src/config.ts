/**
 * Settings: one zod schema, read from a YAML or JSON file and overridden by
 * `TASTESYNC_*` environment variables. Defaults are the named constants below.
 *
 * @module
 */
import { parse as parseYaml } from "yaml";
import { z } from "zod";
import { ConfigError } from "./errors.ts";
import { SASL_MECHANISMS } from "./log/kafka/client.ts";
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
/**
 * Default length of the listen queue: connections the kernel completes while
 * the gateway has not accepted them yet (Linux caps it at
 * `net.core.somaxconn`, 4096 by default). `Deno.serve`'s own 511 drops the
 * SYNs of a reconnect storm beyond it, and each dropped client waits 1 s, then
 * 3 s, for its SYN to be sent again.
 */
export const DEFAULT_LISTEN_BACKLOG = 4096;
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
/**
 * When an event is mirrored to the live bus: `immediate` (in parallel with the
 * durable write; live frames say `durable: false`) or `after_ack` (once the
 * log has acknowledged it).
 */
export const MIRROR_MODES = ["immediate", "after_ack"] as const;
/** Default mirror mode: live subscribers get events without waiting for the durable write. */
export const DEFAULT_MIRROR_MODE: (typeof MIRROR_MODES)[number] = "immediate";
/** Default share of new traces recorded when tracing is on. */
export const DEFAULT_TRACE_SAMPLE_RATIO = 0.1;
/** Default `service.name` of exported spans. */
export const DEFAULT_SERVICE_NAME = "tastesync-gateway";
/** How callers authenticate: `none` (anonymous, loopback only unless allowed) or `required`. */
export const AUTH_MODES = ["none", "required"] as const;
/** Listen address when `http.host` is unset and `auth.mode` is `none`. */
export const LOOPBACK_HOST = "127.0.0.1";
/** Listen address when `http.host` is unset and `auth.mode` is `required`. */
export const ANY_HOST = "0.0.0.0";
/** JWT signature algorithms the gateway can accept: asymmetric only, never `none` or HS*. */
export const JWT_ALGORITHMS = [
  "RS256",
  "RS384",
  "RS512",
  "PS256",
  "ES256",
  "ES384",
  "EdDSA",
] as const;
/** Default JWT algorithm allowlist. */
export const DEFAULT_JWT_ALGORITHMS: (typeof JWT_ALGORITHMS)[number][] = [
  "RS256",
  "ES256",
  "EdDSA",
];
/** Default shortest time between two JWKS fetches caused by an unknown `kid`. */
export const DEFAULT_JWKS_COOLDOWN = "30s";
/** Default (and largest) clock skew allowed on a JWT's `exp` and `nbf`. */
export const DEFAULT_JWT_CLOCK_SKEW = "30s";
/** Default failed authentications from one IP address before it is slowed down. */
export const DEFAULT_AUTH_FAILURE_THRESHOLD = 10;
/** Default longest wait imposed on an IP address after failed authentications. */
export const DEFAULT_AUTH_FAILURE_MAX_DELAY = "60s";
/**
 * Default sustained publishes per second of one principal (one IP address when
 * anonymous): far above what one device sends, so only a runaway client meets it.
 */
export const DEFAULT_PUBLISH_PER_SECOND = 10_000;
/** Default publishes one principal may send at once above the rate (a batch counts its items). */
export const DEFAULT_PUBLISH_BURST = 20_000;
/** Default open subscriptions of one principal (one IP address when anonymous). */
export const DEFAULT_MAX_SUBSCRIPTIONS = 20_000;
/**
 * Default time the gateway may stay at its connection cap before it closes its
 * idle and header-less connections (Deno.serve has no per-connection timeout).
 */
export const DEFAULT_SATURATION_TIMEOUT = "30s";

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

/** A comma list (from an environment variable) or a list. */
const commaList = (v: unknown) =>
  typeof v === "string" ? v.split(",").map((s) => s.trim()).filter(Boolean) : v;

const BrokerList = z.preprocess(
  commaList,
  z.array(z.string().regex(/^[^\s:]+:\d{1,5}$/, { message: "must be host:port" })),
);

/** A boolean, or `true`/`false` from an environment variable. */
const Bool = z.union([z.boolean(), z.enum(["true", "false"]).transform((v) => v === "true")]);

/** A `host:port` (`[::1]:9464` for IPv6) to listen on, as Deno.serve takes it. */
const ListenAddress = z.string().regex(/^(\[[0-9A-Fa-f:.]+\]|[^\s:\[\]]+):\d{1,5}$/, {
  message: "must be host:port",
}).transform((text) => {
  const at = text.lastIndexOf(":");
  return { hostname: text.slice(0, at).replace(/^\[|\]$/g, ""), port: Number(text.slice(at + 1)) };
}).pipe(z.object({ hostname: z.string(), port: z.number().int().min(0).max(65535) }));

/** One trusted JWT issuer and where its signing keys are published. */
const JwtIssuer = z.object({
  issuer: z.string().min(1),
  jwks_file: z.string().min(1).optional(),
  jwks_url: z.url({ protocol: /^https?$/ }).optional(),
}).strict().refine((i) => (i.jwks_file === undefined) !== (i.jwks_url === undefined), {
  message: "needs exactly one of jwks_file and jwks_url",
});

/** Whether `host` is a loopback address (or a name of one). */
export function isLoopbackHost(host: string): boolean {
  const bare = host.replace(/^\[|\]$/g, "");
  return bare === "localhost" || bare === "::1" || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(bare);
}

/** Default SASL mechanism, used once `kafka.sasl.username` is set. */
export const DEFAULT_KAFKA_SASL_MECHANISM = "SCRAM-SHA-512";

const FilePath = z.string().min(1);

/** A Kafka topic name. */
const TopicName = z.string().regex(/^[A-Za-z0-9._-]{1,249}$/, {
  message: "must be a valid Kafka topic name",
});

/** A browser origin as the `Origin` header carries it: scheme, host and port only. */
const Origin = z.string().refine((text) => URL.parse(text)?.origin === text, {
  message: "must be an origin like https://app.example.com (scheme, host and port; no path)",
});

/**
 * Checks a secret that may be given inline (`name`) or in a file
 * (`name_file`): not both, and, with an `owner` (the user it belongs to),
 * neither without the other.
 */
function checkSecret(
  section: Record<string, unknown>,
  name: string,
  ctx: z.RefinementCtx,
  owner?: string,
): void {
  const given = [name, `${name}_file`].filter((key) => section[key] !== undefined);
  if (given.length === 2) {
    ctx.addIssue({ code: "custom", path: [`${name}_file`], message: `cannot be set with ${name}` });
  }
  if (owner === undefined) return;
  if (section[owner] !== undefined && given.length === 0) {
    ctx.addIssue({
      code: "custom",
      path: [name],
      message: `is required with ${owner}: set ${name} or ${name}_file`,
    });
  } else if (section[owner] === undefined && given.length > 0) {
    ctx.addIssue({ code: "custom", path: [owner], message: `is required with ${given[0]}` });
  }
}

/** HTTPS of the gateway: a PEM certificate chain and its private key, or neither. */
const HttpTls = z.object({
  cert_file: FilePath.optional(),
  key_file: FilePath.optional(),
}).strict().refine((t) => (t.cert_file === undefined) === (t.key_file === undefined), {
  message: "needs both cert_file and key_file",
}).prefault({});

/** TLS to a broker: on when `enabled` or a CA is given; the CA (PEM) replaces the system's roots. */
const BrokerTls = z.object({
  enabled: Bool.default(false),
  ca_file: FilePath.optional(),
}).strict().prefault({});

/** Kafka's SASL login: on when `username` is set. */
const KafkaSasl = z.object({
  mechanism: z.enum(SASL_MECHANISMS).default(DEFAULT_KAFKA_SASL_MECHANISM),
  username: z.string().min(1).optional(),
  password: z.string().min(1).optional(),
  password_file: FilePath.optional(),
}).strict().superRefine((sasl, ctx) => checkSecret(sasl, "password", ctx, "username"))
  .prefault({});

/** The schema of all settings. */
export const ConfigSchema = z.object({
  http: z.object({
    /** Unset: {@linkcode LOOPBACK_HOST} with `auth.mode: none`, else {@linkcode ANY_HOST}. */
    host: z.string().min(1).optional(),
    port: Port.default(DEFAULT_HTTP_PORT),
    body_limit_bytes: PositiveInt.default(DEFAULT_BODY_LIMIT_BYTES),
    batch_body_limit_bytes: PositiveInt.default(DEFAULT_BATCH_BODY_LIMIT_BYTES),
    shutdown_timeout: Duration.prefault(DEFAULT_SHUTDOWN_TIMEOUT),
    tls: HttpTls,
    /** Browser origins allowed to subscribe and to call the API (CORS); same-origin always is. */
    allowed_origins: z.preprocess(commaList, z.array(Origin)).default([]),
    /** Most client connections at once (`503` above); 0: the open-files limit less a reserve. */
    max_connections: z.coerce.number().int().min(0).default(0),
    saturation_timeout: Duration.prefault(DEFAULT_SATURATION_TIMEOUT),
    /** Connections the kernel may hold for the gateway to accept (the listen queue). */
    listen_backlog: PositiveInt.max(65535).default(DEFAULT_LISTEN_BACKLOG),
  }).strict().prefault({}),
  kafka: z.object({
    /** The source design's single broker; joins `brokers`. */
    broker: z.string().regex(/^[^\s:]+:\d{1,5}$/, { message: "must be host:port" }).optional(),
    brokers: BrokerList.default([]),
    topic: TopicName.default(DEFAULT_TOPIC),
    partitions: PositiveInt.default(DEFAULT_PARTITIONS),
    replication_factor: PositiveInt.default(1),
    client_id: z.string().min(1).default("tastesync-gateway"),
    /**
     * Prefix of this process's transactional ids (`lanes` per partition): unique among live processes,
     * the same after a restart. Unset: `<client_id>-<hostname>-<http.port>`.
     */
    transactional_id: z.string().regex(/^[A-Za-z0-9._:-]+$/, {
      message: "must be letters, digits, '.', '_', ':' or '-'",
    }).optional(),
    /** Transactions in flight per partition, each under its own transactional id. */
    lanes: PositiveInt.max(8).default(2),
    max_batch: PositiveInt.max(10_000).default(500),
    linger_ms: z.coerce.number().int().min(0).max(1000).default(0),
    retries: z.coerce.number().int().min(1).max(10).default(3),
    initial_retry_ms: PositiveInt.default(100),
    connection_timeout_ms: PositiveInt.default(1000),
    request_timeout_ms: PositiveInt.default(DEFAULT_REQUEST_TIMEOUT_MS),
    publish_timeout_ms: PositiveInt.default(DEFAULT_PUBLISH_TIMEOUT_MS),
    sasl: KafkaSasl,
    ssl: BrokerTls,
  }).strict().prefault({}),
  nats: z.object({
    url: z.string().default(""),
    subject_prefix: z.string().regex(/^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/, {
      message: "must be dot-separated tokens of A-Z, a-z, 0-9, '_' or '-'",
    }).default(DEFAULT_SUBJECT_PREFIX),
    mirror: z.enum(MIRROR_MODES).default(DEFAULT_MIRROR_MODE),
    /** Log in with `user` and a password, a `token`, or a `.creds` file: one of them. */
    user: z.string().min(1).optional(),
    password: z.string().min(1).optional(),
    password_file: FilePath.optional(),
    token: z.string().min(1).optional(),
    token_file: FilePath.optional(),
    creds_file: FilePath.optional(),
    tls: BrokerTls,
  }).strict().superRefine((nats, ctx) => {
    checkSecret(nats, "password", ctx, "user");
    checkSecret(nats, "token", ctx);
    const logins = [
      nats.user && "user",
      (nats.token ?? nats.token_file) && "token",
      nats.creds_file && "creds_file",
    ].filter(Boolean);
    if (logins.length > 1) {
      ctx.addIssue({
        code: "custom",
        path: [],
        message: `sets ${logins.join(" and ")}: user, token and creds_file are ways to log in; ` +
          "set one",
      });
    }
  }).prefault({}),
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
    /** Topics that may be subscribed before they exist in the log, besides `kafka.topic`. */
    topics: z.preprocess(commaList, z.array(TopicName)).default([]),
  }).strict().prefault({}),
  log: z.object({
    level: z.enum(LOG_LEVELS).default("info"),
  }).strict().prefault({}),
  tracing: z.object({
    /** OTLP/HTTP collector base URL; empty: spans are not recorded, trace context passes through. */
    endpoint: z.union([z.literal(""), z.url({ protocol: /^https?$/ })]).default(""),
    sample_ratio: z.coerce.number().min(0).max(1).default(DEFAULT_TRACE_SAMPLE_RATIO),
    service_name: z.string().min(1).default(DEFAULT_SERVICE_NAME),
  }).strict().prefault({}),
  auth: z.object({
    mode: z.enum(AUTH_MODES).default("none"),
    /** With `mode: none`, listen on a non-loopback `http.host` anyway. */
    allow_anonymous: Bool.default(false),
    /** YAML or JSON list of `{id, sha256, scopes, venues}`. */
    api_keys_file: z.string().min(1).optional(),
    jwt: z.object({
      /** The single-issuer shorthand: `issuer` with `jwks_file` or `jwks_url`. */
      issuer: z.string().min(1).optional(),
      jwks_file: z.string().min(1).optional(),
      jwks_url: z.url({ protocol: /^https?$/ }).optional(),
      /** More trusted issuers, each with its own keys. */
      issuers: z.array(JwtIssuer).default([]),
      /** The `aud` every token must name. */
      audience: z.string().min(1).optional(),
      algorithms: z.preprocess(commaList, z.array(z.enum(JWT_ALGORITHMS)).min(1))
        .default(DEFAULT_JWT_ALGORITHMS),
      jwks_cooldown: Duration.prefault(DEFAULT_JWKS_COOLDOWN),
      /** Clock skew allowed on `exp` and `nbf`; at most 30 s. */
      clock_skew: Duration.prefault(DEFAULT_JWT_CLOCK_SKEW).pipe(
        z.number().max(30_000, { message: "must be at most 30s" }),
      ),
    }).strict().prefault({}),
    failures: z.object({
      threshold: PositiveInt.default(DEFAULT_AUTH_FAILURE_THRESHOLD),
      max_delay: Duration.prefault(DEFAULT_AUTH_FAILURE_MAX_DELAY),
    }).strict().prefault({}),
    /** Per principal (per IP address when anonymous) and per process. */
    limits: z.object({
      publish_per_second: z.coerce.number().positive().default(DEFAULT_PUBLISH_PER_SECOND),
      publish_burst: PositiveInt.default(DEFAULT_PUBLISH_BURST),
      subscriptions: PositiveInt.default(DEFAULT_MAX_SUBSCRIPTIONS),
    }).strict().prefault({}),
  }).strict().prefault({}),
  metrics: z.object({
    /** A separate `host:port` serving only `/metrics`, without authentication. */
    listen: ListenAddress.optional(),
  }).strict().prefault({}),
}).strict().superRefine(checkAuth).transform((c) => ({
  ...c,
  http: { ...c.http, host: c.http.host ?? (c.auth.mode === "none" ? LOOPBACK_HOST : ANY_HOST) },
}));

/** The settings `checkAuth` looks at. */
interface AuthSettings {
  http: { host?: string };
  auth: {
    mode: (typeof AUTH_MODES)[number];
    allow_anonymous: boolean;
    api_keys_file?: string;
    jwt: {
      issuer?: string;
      jwks_file?: string;
      jwks_url?: string;
      issuers: { issuer: string }[];
      audience?: string;
    };
  };
}

/** Refuses settings that would leave the gateway open by accident or unable to authenticate. */
function checkAuth(c: AuthSettings, ctx: z.RefinementCtx): void {
  const { auth } = c;
  const jwt = auth.jwt;
  if (
    auth.mode === "none" && c.http.host && !isLoopbackHost(c.http.host) && !auth.allow_anonymous
  ) {
    ctx.addIssue({
      code: "custom",
      path: ["http", "host"],
      message: `${c.http.host} is not a loopback address and auth.mode is none, so anyone who ` +
        "can reach it could publish and read every event. Set auth.mode: required " +
        "(TASTESYNC_AUTH_MODE) with API keys or JWT, or auth.allow_anonymous: true " +
        "(TASTESYNC_AUTH_ALLOW_ANONYMOUS) to accept anonymous callers from the network",
    });
  }
  const shorthand = jwt.issuer !== undefined || jwt.jwks_file !== undefined ||
    jwt.jwks_url !== undefined;
  if (
    shorthand &&
    (jwt.issuer === undefined || (jwt.jwks_file === undefined) === (jwt.jwks_url === undefined))
  ) {
    ctx.addIssue({
      code: "custom",
      path: ["auth", "jwt", "issuer"],
      message: "needs an issuer with exactly one of jwks_file and jwks_url",
    });
  }
  const issuers = [...(jwt.issuer ? [jwt.issuer] : []), ...jwt.issuers.map((i) => i.issuer)];
  if (new Set(issuers).size !== issuers.length) {
    ctx.addIssue({
      code: "custom",
      path: ["auth", "jwt", "issuers"],
      message: "lists an issuer twice",
    });
  }
  if (issuers.length > 0 && jwt.audience === undefined) {
    ctx.addIssue({
      code: "custom",
      path: ["auth", "jwt", "audience"],
      message: "is required to accept JWTs: the aud every token must name",
    });
  }
  if (auth.mode === "required" && issuers.length === 0 && auth.api_keys_file === undefined) {
    ctx.addIssue({
      code: "custom",
      path: ["auth", "mode"],
      message: "required needs auth.api_keys_file or a JWT issuer (auth.jwt)",
    });
  }
}

/** All settings, with defaults applied and durations in ms. */
export type Config = z.infer<typeof ConfigSchema>;

/** Environment variables and the path of the setting each overrides. */
export const ENV_KEYS: Readonly<Record<string, readonly string[]>> = {
  TASTESYNC_HTTP_HOST: ["http", "host"],
  TASTESYNC_HTTP_PORT: ["http", "port"],
  TASTESYNC_HTTP_BODY_LIMIT_BYTES: ["http", "body_limit_bytes"],
  TASTESYNC_HTTP_BATCH_BODY_LIMIT_BYTES: ["http", "batch_body_limit_bytes"],
  TASTESYNC_HTTP_SHUTDOWN_TIMEOUT: ["http", "shutdown_timeout"],
  TASTESYNC_HTTP_TLS_CERT_FILE: ["http", "tls", "cert_file"],
  TASTESYNC_HTTP_TLS_KEY_FILE: ["http", "tls", "key_file"],
  TASTESYNC_HTTP_ALLOWED_ORIGINS: ["http", "allowed_origins"],
  TASTESYNC_HTTP_MAX_CONNECTIONS: ["http", "max_connections"],
  TASTESYNC_HTTP_SATURATION_TIMEOUT: ["http", "saturation_timeout"],
  TASTESYNC_HTTP_LISTEN_BACKLOG: ["http", "listen_backlog"],
  TASTESYNC_KAFKA_BROKERS: ["kafka", "brokers"],
  TASTESYNC_KAFKA_TOPIC: ["kafka", "topic"],
  TASTESYNC_KAFKA_PARTITIONS: ["kafka", "partitions"],
  TASTESYNC_KAFKA_REPLICATION_FACTOR: ["kafka", "replication_factor"],
  TASTESYNC_KAFKA_CLIENT_ID: ["kafka", "client_id"],
  TASTESYNC_KAFKA_TRANSACTIONAL_ID: ["kafka", "transactional_id"],
  TASTESYNC_KAFKA_LANES: ["kafka", "lanes"],
  TASTESYNC_KAFKA_MAX_BATCH: ["kafka", "max_batch"],
  TASTESYNC_KAFKA_LINGER_MS: ["kafka", "linger_ms"],
  TASTESYNC_KAFKA_RETRIES: ["kafka", "retries"],
  TASTESYNC_KAFKA_BROKER: ["kafka", "broker"],
  TASTESYNC_KAFKA_INITIAL_RETRY_MS: ["kafka", "initial_retry_ms"],
  TASTESYNC_KAFKA_CONNECTION_TIMEOUT_MS: ["kafka", "connection_timeout_ms"],
  TASTESYNC_KAFKA_REQUEST_TIMEOUT_MS: ["kafka", "request_timeout_ms"],
  TASTESYNC_KAFKA_PUBLISH_TIMEOUT_MS: ["kafka", "publish_timeout_ms"],
  TASTESYNC_KAFKA_SASL_MECHANISM: ["kafka", "sasl", "mechanism"],
  TASTESYNC_KAFKA_SASL_USERNAME: ["kafka", "sasl", "username"],
  TASTESYNC_KAFKA_SASL_PASSWORD: ["kafka", "sasl", "password"],
  TASTESYNC_KAFKA_SASL_PASSWORD_FILE: ["kafka", "sasl", "password_file"],
  TASTESYNC_KAFKA_SSL_ENABLED: ["kafka", "ssl", "enabled"],
  TASTESYNC_KAFKA_SSL_CA_FILE: ["kafka", "ssl", "ca_file"],
  TASTESYNC_NATS_URL: ["nats", "url"],
  TASTESYNC_NATS_SUBJECT_PREFIX: ["nats", "subject_prefix"],
  TASTESYNC_NATS_MIRROR: ["nats", "mirror"],
  TASTESYNC_NATS_USER: ["nats", "user"],
  TASTESYNC_NATS_PASSWORD: ["nats", "password"],
  TASTESYNC_NATS_PASSWORD_FILE: ["nats", "password_file"],
  TASTESYNC_NATS_TOKEN: ["nats", "token"],
  TASTESYNC_NATS_TOKEN_FILE: ["nats", "token_file"],
  TASTESYNC_NATS_CREDS_FILE: ["nats", "creds_file"],
  TASTESYNC_NATS_TLS_ENABLED: ["nats", "tls", "enabled"],
  TASTESYNC_NATS_TLS_CA_FILE: ["nats", "tls", "ca_file"],
  TASTESYNC_DATA_DIR: ["embedded", "data_dir"],
  TASTESYNC_EMBEDDED_SYNC: ["embedded", "sync"],
  TASTESYNC_DEDUP_WINDOW: ["dedup", "window"],
  TASTESYNC_SUBSCRIPTIONS_ACK_TIMEOUT: ["subscriptions", "ack_timeout"],
  TASTESYNC_SUBSCRIPTIONS_STALL_TIMEOUT: ["subscriptions", "stall_timeout"],
  TASTESYNC_SUBSCRIPTIONS_MAX_QUEUE_EVENTS: ["subscriptions", "max_queue_events"],
  TASTESYNC_SUBSCRIPTIONS_MAX_QUEUE_BYTES: ["subscriptions", "max_queue_bytes"],
  TASTESYNC_SUBSCRIPTIONS_HEARTBEAT: ["subscriptions", "heartbeat"],
  TASTESYNC_SUBSCRIPTIONS_MAX_FRAME_BYTES: ["subscriptions", "max_frame_bytes"],
  TASTESYNC_SUBSCRIPTIONS_SSE_RETRY: ["subscriptions", "sse_retry"],
  TASTESYNC_SUBSCRIPTIONS_TOPICS: ["subscriptions", "topics"],
  TASTESYNC_LOG_LEVEL: ["log", "level"],
  TASTESYNC_TRACING_ENDPOINT: ["tracing", "endpoint"],
  TASTESYNC_TRACING_SAMPLE_RATIO: ["tracing", "sample_ratio"],
  TASTESYNC_TRACING_SERVICE_NAME: ["tracing", "service_name"],
  TASTESYNC_AUTH_MODE: ["auth", "mode"],
  TASTESYNC_AUTH_ALLOW_ANONYMOUS: ["auth", "allow_anonymous"],
  TASTESYNC_AUTH_API_KEYS_FILE: ["auth", "api_keys_file"],
  TASTESYNC_AUTH_ISSUER: ["auth", "jwt", "issuer"],
  TASTESYNC_AUTH_AUDIENCE: ["auth", "jwt", "audience"],
  TASTESYNC_AUTH_JWKS_FILE: ["auth", "jwt", "jwks_file"],
  TASTESYNC_AUTH_JWKS_URL: ["auth", "jwt", "jwks_url"],
  TASTESYNC_AUTH_JWT_ALGORITHMS: ["auth", "jwt", "algorithms"],
  TASTESYNC_AUTH_JWKS_COOLDOWN: ["auth", "jwt", "jwks_cooldown"],
  TASTESYNC_AUTH_JWT_CLOCK_SKEW: ["auth", "jwt", "clock_skew"],
  TASTESYNC_AUTH_FAILURES_THRESHOLD: ["auth", "failures", "threshold"],
  TASTESYNC_AUTH_FAILURES_MAX_DELAY: ["auth", "failures", "max_delay"],
  TASTESYNC_AUTH_LIMITS_PUBLISH_PER_SECOND: ["auth", "limits", "publish_per_second"],
  TASTESYNC_AUTH_LIMITS_PUBLISH_BURST: ["auth", "limits", "publish_burst"],
  TASTESYNC_AUTH_LIMITS_SUBSCRIPTIONS: ["auth", "limits", "subscriptions"],
  TASTESYNC_METRICS_LISTEN: ["metrics", "listen"],
};

/** The environment variable naming the config file, as `--config` does. */
export const CONFIG_ENV = "TASTESYNC_CONFIG";

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
  const merged = structuredClone(raw) as Record<string, unknown>;
  const fromEnv = new Map<string, string>();
  for (const [name, path] of Object.entries(ENV_KEYS)) {
    const value = env[name];
    if (value === undefined || value === "") continue;
    setAt(merged, path, value);
    fromEnv.set(path.join("."), name);
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

/** Sets `value` at `path` in `target`, copying (never sharing) the objects on the way. */
function setAt(target: Record<string, unknown>, path: readonly string[], value: unknown): void {
  const [key, ...rest] = path;
  if (rest.length === 0) {
    target[key] = value;
    return;
  }
  const inner = target[key];
  const copy = typeof inner === "object" && inner !== null && !Array.isArray(inner)
    ? { ...inner as Record<string, unknown> }
    : {};
  setAt(copy, rest, value);
  target[key] = copy;
}

/**
 * Reads the config file named by `--config PATH` (or {@linkcode CONFIG_ENV}),
 * if any, and the process environment.
 */
export async function loadConfig(args: string[], env = Deno.env.toObject()): Promise<Config> {
  const at = args.findIndex((a) => a === "--config" || a.startsWith("--config="));
  const flag = at === -1
    ? undefined
    : args[at].includes("=")
    ? args[at].slice("--config=".length)
    : args[at + 1];
  if (at !== -1 && !flag) throw new ConfigError("--config", "needs a file path");
  const path = flag ?? (env[CONFIG_ENV] || undefined);
  if (path === undefined) return parseConfig(undefined, env);
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (error) {
    throw new ConfigError(flag ? "--config" : CONFIG_ENV, `cannot read ${path}`, { cause: error });
  }
  return parseConfig(text, env, path);
}

/**
 * The secured services of `deploy/local/services.sh --secure` (Kafka whose
 * only client listener is SASL_SSL with SCRAM-SHA-512, nats-server with TLS
 * and logins), in their own state dir and on their own ports so the plain
 * services on 9092/4222 are never touched; the settings of a gateway that
 * uses them; and independent clients that check what it did.
 *
 * @module
 */
import { connect, credsAuthenticator, type NatsConnection } from "@nats-io/transport-node";
import type { KafkaConfig } from "kafkajs";
import { services } from "./harness.ts";

/** How a gateway logs in to NATS: the user's password, or the credentials file. */
export type NatsLogin = "password" | "creds";

/** Running secured services, and where they keep their logins. */
export class SecuredServices {
  /** What `services.sh env --secure` prints: addresses, and files of passwords and certificates. */
  readonly env: Readonly<Record<string, string>>;
  readonly #startedHere: boolean;

  private constructor(env: Record<string, string>, startedHere: boolean) {
    this.env = env;
    this.#startedHere = startedHere;
  }

  /** Starts the secured services unless they are running already (they are then reused). */
  static async start(): Promise<SecuredServices> {
    const running = await services("status", "--secure").then(() => true, () => false);
    if (!running) await services("start", "--secure");
    const env: Record<string, string> = {};
    for (const line of (await services("env", "--secure")).split("\n")) {
      const at = line.indexOf("=");
      if (at > 0) env[line.slice(0, at)] = line.slice(at + 1);
    }
    return new SecuredServices(env, !running);
  }

  /** Stops the services if {@linkcode SecuredServices.start} started them. */
  async stop(): Promise<void> {
    if (this.#startedHere) await services("stop", "--secure");
  }

  /**
   * The settings of a gateway on `topic` that serves HTTPS and logs in to
   * Kafka and NATS over TLS. `services.sh env` names each setting as the
   * gateway does, without the `TASTESYNC_` prefix.
   */
  gatewayEnv(topic: string, nats: NatsLogin = "password"): Record<string, string> {
    const { KAFKA_BOOTSTRAP_SERVERS, NATS_USER, NATS_PASSWORD_FILE, NATS_CREDS_FILE, ...rest } =
      this.env;
    const login = nats === "password" ? { NATS_USER, NATS_PASSWORD_FILE } : { NATS_CREDS_FILE };
    return {
      ...Object.fromEntries(
        Object.entries({ ...rest, ...login }).map(([key, value]) => [`TASTESYNC_${key}`, value]),
      ),
      TASTESYNC_KAFKA_BROKERS: KAFKA_BOOTSTRAP_SERVERS,
      TASTESYNC_KAFKA_TOPIC: topic,
      TASTESYNC_NATS_SUBJECT_PREFIX: `it.${topic.replaceAll("-", "_")}`,
    };
  }

  /** The text of the file setting `name` (of {@linkcode SecuredServices.env}) names. */
  secret(name: string): string {
    return Deno.readTextFileSync(this.env[name]).trim();
  }

  /** kafkajs settings of a client logged in as the gateway's user, over TLS. */
  kafka(): Partial<KafkaConfig> {
    return {
      brokers: this.env.KAFKA_BOOTSTRAP_SERVERS.split(","),
      ssl: { ca: [this.secret("KAFKA_SSL_CA_FILE")] },
      sasl: {
        mechanism: "scram-sha-512",
        username: this.env.KAFKA_SASL_USERNAME,
        password: this.secret("KAFKA_SASL_PASSWORD_FILE"),
      },
    };
  }

  /** A NATS client that logs in with the credentials file, over TLS. */
  nats(): Promise<NatsConnection> {
    return connect({
      servers: this.env.NATS_URL,
      authenticator: credsAuthenticator(Deno.readFileSync(this.env.NATS_CREDS_FILE)),
      tls: { ca: this.secret("NATS_TLS_CA_FILE") },
    });
  }

  /** An HTTP client that trusts the services' CA, which signed the gateway's certificate. */
  httpClient(): Deno.HttpClient {
    return Deno.createHttpClient({ caCerts: [this.secret("KAFKA_SSL_CA_FILE")] });
  }
}

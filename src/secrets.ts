/**
 * The passwords, tokens, credentials and certificates the settings name,
 * turned into what the Kafka and NATS adapters and the HTTPS listener take.
 * Files are read once, at start-up, so a missing one stops the gateway naming
 * its setting instead of failing a connection later; a rotated secret needs a
 * restart. Nothing here is logged.
 *
 * @module
 */
import type { NatsAuth, NatsBusOptions } from "./bus/nats_bus.ts";
import type { Config } from "./config.ts";
import { ConfigError } from "./errors.ts";
import type { KafkaConnection } from "./log/kafka/client.ts";

/** The text of the file `path` that setting `key` names. */
function readSetting(key: string, path: string): string {
  try {
    return Deno.readTextFileSync(path);
  } catch (error) {
    throw new ConfigError(key, `cannot read ${path}`, { cause: error });
  }
}

/** Secret `key`, given inline or in the file `${key}_file` names (without its final newline). */
function secret(key: string, value?: string, file?: string): string | undefined {
  if (value !== undefined || file === undefined) return value;
  const text = readSetting(`${key}_file`, file).replace(/\r?\n$/, "");
  if (text === "") throw new ConfigError(`${key}_file`, `${file} is empty`);
  return text;
}

/** TLS to a broker when it is enabled or a CA is given. */
function brokerTls(
  key: string,
  tls: { enabled: boolean; ca_file?: string },
): { ca?: string } | undefined {
  if (tls.ca_file !== undefined) return { ca: readSetting(`${key}.ca_file`, tls.ca_file) };
  return tls.enabled ? {} : undefined;
}

/**
 * The SASL login and TLS of the Kafka adapter's connections.
 *
 * @throws {ConfigError} naming the setting whose file cannot be read.
 */
export function kafkaSecurity(config: Config): Pick<KafkaConnection, "sasl" | "tls"> {
  const { sasl, ssl } = config.kafka;
  const password = secret("kafka.sasl.password", sasl.password, sasl.password_file);
  return {
    // The schema lets a username through only with its password.
    sasl: sasl.username === undefined
      ? undefined
      : { mechanism: sasl.mechanism, username: sasl.username, password: password! },
    tls: brokerTls("kafka.ssl", ssl),
  };
}

/**
 * The login and TLS of the NATS bus.
 *
 * @throws {ConfigError} naming the setting whose file cannot be read.
 */
export function natsSecurity(config: Config): Pick<NatsBusOptions, "auth" | "tls"> {
  const n = config.nats;
  const token = secret("nats.token", n.token, n.token_file);
  let auth: NatsAuth | undefined;
  if (n.user !== undefined) {
    auth = { user: n.user, password: secret("nats.password", n.password, n.password_file)! };
  } else if (n.creds_file !== undefined) {
    auth = { creds: readSetting("nats.creds_file", n.creds_file) };
  } else if (token !== undefined) {
    auth = { token };
  }
  return { auth, tls: brokerTls("nats.tls", n.tls) };
}

/**
 * The certificate chain and private key (PEM) of the HTTPS listener, when
 * `http.tls` names them.
 *
 * @throws {ConfigError} naming the setting whose file cannot be read.
 */
export function httpsCertificate(config: Config): { cert: string; key: string } | undefined {
  const { cert_file, key_file } = config.http.tls;
  if (cert_file === undefined || key_file === undefined) return undefined;
  return {
    cert: readSetting("http.tls.cert_file", cert_file),
    key: readSetting("http.tls.key_file", key_file),
  };
}

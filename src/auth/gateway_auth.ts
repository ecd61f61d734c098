/**
 * The authentication and permission parts the HTTP routes share, built once
 * from the `auth` settings.
 *
 * @module
 */
import type { MiddlewareHandler } from "hono";
import type { Config } from "../config.ts";
import type { EventRegistry } from "../events/registry.ts";
import type { Logger } from "../telemetry/logger.ts";
import type { Metrics } from "../telemetry/metrics.ts";
import { type Authenticator, createAuthenticator, CredentialVerifier } from "./authenticator.ts";
import { FailureThrottle } from "./failure_throttle.ts";
import { authentication } from "./middleware.ts";
import { Permissions } from "./permissions.ts";
import { Refusals } from "./refusals.ts";

/** What the routes use to authenticate callers and check their permissions. */
export interface GatewayAuth {
  /** Puts the principal on every request (or refuses it). */
  middleware: MiddlewareHandler;
  /** Verifies tokens, for renewals on open connections. */
  authenticator: Authenticator;
  /** The permission checks of the registered types. */
  permissions: Permissions;
  /** Answers, logs and counts refusals. */
  refusals: Refusals;
}

/**
 * The parts `settings` describe, for the types of `registry`. With
 * `mode: none` no file is read and every caller is the anonymous principal.
 *
 * @throws {ConfigError} when the API keys file or a JWKS file cannot be read.
 */
export function createGatewayAuth(
  settings: Config["auth"],
  registry: EventRegistry,
  logger: Logger,
  metrics: Pick<Metrics, "authFailures">,
): GatewayAuth {
  if (settings.mode === "none") return anonymousGatewayAuth(registry, logger, metrics);
  const throttle = new FailureThrottle({
    threshold: settings.failures.threshold,
    maxDelayMs: settings.failures.max_delay,
  });
  return assemble("required", createAuthenticator(settings), throttle, registry, logger, metrics);
}

/** The parts of `auth.mode: none`: every caller is the anonymous principal with every scope. */
export function anonymousGatewayAuth(
  registry: EventRegistry,
  logger: Logger,
  metrics: Pick<Metrics, "authFailures">,
): GatewayAuth {
  const throttle = new FailureThrottle({ threshold: Infinity, maxDelayMs: 0 });
  return assemble("none", new CredentialVerifier(), throttle, registry, logger, metrics);
}

function assemble(
  mode: Config["auth"]["mode"],
  authenticator: Authenticator,
  throttle: FailureThrottle,
  registry: EventRegistry,
  logger: Logger,
  metrics: Pick<Metrics, "authFailures">,
): GatewayAuth {
  const refusals = new Refusals(logger, metrics);
  return {
    middleware: authentication({ mode, authenticator, throttle, refusals }),
    authenticator,
    permissions: new Permissions(registry),
    refusals,
  };
}

/**
 * Where a request carries its bearer token: the `Authorization` header; for
 * browsers, which cannot set headers on WebSocket or EventSource, the
 * WebSocket subprotocol `bearer.<token>` (offered next to `tastesync.v1`) or,
 * on the Server-Sent Events route, the `access_token` query parameter
 * (RFC 6750 section 2.3).
 *
 * @module
 */
import { AuthenticationError } from "./errors.ts";

/** The WebSocket subprotocol of subscriptions: the one the gateway selects. */
export const WEBSOCKET_PROTOCOL = "tastesync.v1";
/** Prefix of the WebSocket subprotocol that carries a token. */
export const BEARER_PROTOCOL_PREFIX = "bearer.";
/** The query parameter that may carry a token (RFC 6750 section 2.3). */
export const ACCESS_TOKEN_PARAMETER = "access_token";
/** Longest token accepted, in characters. */
export const MAX_TOKEN_LENGTH = 8192;

/** RFC 6750 `b64token`. */
const B64TOKEN = /^[A-Za-z0-9\-._~+/]+=*$/;
const BEARER = /^Bearer +(\S+) *$/i;

/**
 * The bearer token `request` carries, or `undefined` when it carries none.
 * `query`, when given, is read for the `access_token` parameter.
 *
 * @throws {AuthenticationError} (`malformed`) for another scheme, a token
 * that is not a `b64token`, a token sent more than one way, or a `bearer.`
 * subprotocol offered without `tastesync.v1`.
 */
export function presentedToken(request: Request, query?: URLSearchParams): string | undefined {
  const found: string[] = [];
  const header = request.headers.get("authorization");
  if (header !== null) {
    const match = header.match(BEARER);
    if (!match) throw malformed("Send the credential as Authorization: Bearer <token>");
    found.push(match[1]);
  }
  const offered = request.headers.get("sec-websocket-protocol")?.split(",").map((p) => p.trim()) ??
    [];
  const bearers = offered.filter((p) => p.startsWith(BEARER_PROTOCOL_PREFIX));
  if (bearers.length > 0 && !offered.includes(WEBSOCKET_PROTOCOL)) {
    throw malformed(`Offer the subprotocol ${WEBSOCKET_PROTOCOL} next to bearer.<token>`);
  }
  found.push(...bearers.map((p) => p.slice(BEARER_PROTOCOL_PREFIX.length)));
  if (query) found.push(...query.getAll(ACCESS_TOKEN_PARAMETER));
  if (found.length > 1) throw malformed("Send the token one way only");
  const [token] = found;
  if (token !== undefined && (token.length > MAX_TOKEN_LENGTH || !B64TOKEN.test(token))) {
    throw malformed("The token is not a bearer token");
  }
  return token;
}

/** `params` without the `access_token` parameter, for the routes that accept one. */
export function withoutAccessToken(params: URLSearchParams): URLSearchParams {
  const rest = new URLSearchParams(params);
  rest.delete(ACCESS_TOKEN_PARAMETER);
  return rest;
}

function malformed(message: string): AuthenticationError {
  return new AuthenticationError("malformed", message);
}

/** The subprotocol to select when upgrading `request`: `tastesync.v1` if offered, else none. */
export function selectedProtocol(request: Request): string | undefined {
  const offered = request.headers.get("sec-websocket-protocol")?.split(",").map((p) => p.trim());
  return offered?.includes(WEBSOCKET_PROTOCOL) ? WEBSOCKET_PROTOCOL : undefined;
}

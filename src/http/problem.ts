/**
 * RFC 9457 problem details: every error a client sees over HTTP.
 *
 * @module
 */
import type { FieldError } from "../events/validate.ts";

/** Problem types, their status and title; `type` URIs point at the docs page. */
export const PROBLEMS = {
  "malformed-json": { status: 400, title: "Malformed JSON" },
  "not-i-json": { status: 400, title: "The body is not I-JSON (RFC 7493): UTF-8, unique names" },
  "validation-failed": { status: 422, title: "The event is not valid" },
  "body-too-large": { status: 413, title: "Request body too large" },
  "unsupported-media-type": { status: 415, title: "Unsupported media type" },
  "event-id-conflict": { status: 409, title: "Event id reused with different content" },
  "log-unavailable": { status: 503, title: "The durable event log is unavailable" },
  "not-found": { status: 404, title: "Not found" },
  "bad-subscription": { status: 400, title: "The subscription request is not valid" },
  "upgrade-required": { status: 426, title: "WebSocket upgrade required" },
  "unauthorized": { status: 401, title: "Missing or invalid credentials" },
  "forbidden": { status: 403, title: "Not permitted" },
  "auth-throttled": { status: 429, title: "Too many failed authentications" },
  "auth-unavailable": { status: 503, title: "Credentials cannot be checked now" },
  "rate-limited": { status: 429, title: "Too many publishes; wait for Retry-After" },
  "too-many-subscriptions": { status: 429, title: "Too many open subscriptions" },
  "unknown-topic": { status: 404, title: "No such topic" },
  "origin-not-allowed": { status: 403, title: "The browser origin is not allowed" },
  "overloaded": { status: 503, title: "The gateway is at its connection limit" },
  "internal": { status: 500, title: "Internal error" },
} as const;

/** A problem type name. */
export type ProblemType = keyof typeof PROBLEMS;

/** A problem details body. */
export interface Problem {
  /** URI of the problem type (relative to the gateway: its docs page). */
  type: string;
  /** Short summary of the type. */
  title: string;
  /** The HTTP status. */
  status: number;
  /** What went wrong in this case. */
  detail: string;
  /** Per-field violations, when the body did not validate. */
  errors?: FieldError[];
}

const TYPE_PREFIX = "/docs#problem-";

/** The problem type name of `body`. */
export function problemType(body: Problem): ProblemType {
  return body.type.slice(TYPE_PREFIX.length) as ProblemType;
}

/** Builds a problem body of `type`. */
export function problem(type: ProblemType, detail: string, errors?: FieldError[]): Problem {
  const { status, title } = PROBLEMS[type];
  return { type: `${TYPE_PREFIX}${type}`, title, status, detail, ...(errors ? { errors } : {}) };
}

/** A problem as an `application/problem+json` response. */
export function problemResponse(body: Problem, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), {
    status: body.status,
    headers: { "content-type": "application/problem+json", ...headers },
  });
}

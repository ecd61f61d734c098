/**
 * Error classes that callers catch. Each sets `name`, carries its `cause`, and
 * says whether trying again may succeed (`retriable`), as kafkajs does.
 *
 * @module
 */

/** A setting is missing or invalid; start-up stops and names the key. */
export class ConfigError extends Error {
  /** The dotted key (or environment variable) that is wrong. */
  readonly key: string;
  /** An error about setting `key`. */
  constructor(key: string, message: string, options?: ErrorOptions) {
    super(`Invalid setting "${key}": ${message}`, options);
    this.name = "ConfigError";
    this.key = key;
  }
}

/** The durable log could not take or confirm a record, even after retries. */
export class EventLogUnavailableError extends Error {
  /** Trying again later may succeed. */
  readonly retriable = true;
  /** The log failed; `cause` says how. */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "EventLogUnavailableError";
  }
}

/** An `event_id` was reused with different content. */
export class EventIdConflictError extends Error {
  /** The same request will always fail the same way. */
  readonly retriable = false;
  /** The reused event id. */
  readonly eventId: string;
  /** `eventId` was reused with other content. */
  constructor(eventId: string, options?: ErrorOptions) {
    super(`Event id "${eventId}" was already used for an event with different content`, options);
    this.name = "EventIdConflictError";
    this.eventId = eventId;
  }
}

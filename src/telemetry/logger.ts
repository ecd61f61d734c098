/**
 * Structured logs: one JSON object per line on stderr.
 *
 * @module
 */
import { isSpanContextValid, trace } from "@opentelemetry/api";

/** Log levels, least to most severe. */
export const LOG_LEVELS = ["debug", "info", "warn", "error"] as const;
/** One of {@linkcode LOG_LEVELS}. */
export type LogLevel = typeof LOG_LEVELS[number];

/** A structured logger. Fields must never hold secrets or payloads. */
export interface Logger {
  /** Logs at `level` when enabled. */
  log(level: LogLevel, msg: string, fields?: Record<string, unknown>): void;
  /** Whether `level` is enabled. */
  enabled(level: LogLevel): boolean;
}

/**
 * A JSON-lines logger that writes `level` and above to `write` (stderr by
 * default), with the active span's `trace_id` and `span_id` when there is one.
 */
export function jsonLogger(
  level: LogLevel,
  write: (line: string) => void = (line) => console.error(line),
): Logger {
  const min = LOG_LEVELS.indexOf(level);
  const enabled = (l: LogLevel) => LOG_LEVELS.indexOf(l) >= min;
  return {
    enabled,
    log(l, msg, fields) {
      if (!enabled(l)) return;
      const span = trace.getActiveSpan()?.spanContext();
      const ids = span && isSpanContextValid(span)
        ? { trace_id: span.traceId, span_id: span.spanId }
        : {};
      write(JSON.stringify({ time: new Date().toISOString(), level: l, msg, ...ids, ...fields }));
    },
  };
}

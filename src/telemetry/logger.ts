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

/** Default least time between two lines of one {@linkcode RepeatedLog} key, in ms. */
export const DEFAULT_REPEAT_INTERVAL_MS = 1000;

/**
 * One message that can repeat thousands of times a second in a fault (a
 * warning per failed request): logged at most once per key per interval,
 * with `suppressed` counting the lines left out since the last one. A log
 * storm costs CPU and can block the process on a full stderr pipe.
 */
export class RepeatedLog {
  readonly #logger: Logger;
  readonly #level: LogLevel;
  readonly #msg: string;
  readonly #intervalMs: number;
  readonly #last = new Map<string, { at: number; suppressed: number }>();

  /** Logs `msg` at `level` through `logger`, at most once per key per `intervalMs`. */
  constructor(
    logger: Logger,
    level: LogLevel,
    msg: string,
    intervalMs = DEFAULT_REPEAT_INTERVAL_MS,
  ) {
    this.#logger = logger;
    this.#level = level;
    this.#msg = msg;
    this.#intervalMs = intervalMs;
  }

  /** Logs with `fields`, unless `key` was logged less than the interval ago. */
  log(key: string, fields: Record<string, unknown>): void {
    const now = Date.now();
    const last = this.#last.get(key);
    if (last && now - last.at < this.#intervalMs) {
      last.suppressed++;
      return;
    }
    const suppressed = last?.suppressed ?? 0;
    this.#logger.log(this.#level, this.#msg, suppressed > 0 ? { ...fields, suppressed } : fields);
    this.#last.set(key, { at: now, suppressed: 0 });
  }
}

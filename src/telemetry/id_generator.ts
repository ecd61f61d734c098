/**
 * Trace and span ids for the OpenTelemetry SDK, drawn from a pool of random
 * bytes and written in hex through a table. The SDK's own generator writes
 * each id into a Node `Buffer` and formats it with `toString("hex")`, a call
 * into the runtime per id: in a CPU profile of the gateway at 100% sampling,
 * about 1.5 µs of the request thread per publish.
 *
 * @module
 */
import type { IdGenerator } from "@opentelemetry/sdk-trace";

/** Bytes of randomness fetched at once (`crypto.getRandomValues` takes at most 65,536). */
const POOL_BYTES = 4096;
/** Bytes of a trace id (W3C trace context: 16). */
const TRACE_ID_BYTES = 16;
/** Bytes of a span id (W3C trace context: 8). */
const SPAN_ID_BYTES = 8;
/** The two lowercase hex digits of each byte value. */
const HEX: readonly string[] = Array.from(
  { length: 256 },
  (_, byte) => byte.toString(16).padStart(2, "0"),
);

/** Random ids from a pool refilled by `crypto.getRandomValues`; never all zeros (invalid in W3C). */
export class PooledIdGenerator implements IdGenerator {
  readonly #pool = new Uint8Array(POOL_BYTES);
  #next = POOL_BYTES;

  /** 32 lowercase hex digits. */
  generateTraceId(): string {
    return this.#id(TRACE_ID_BYTES);
  }

  /** 16 lowercase hex digits. */
  generateSpanId(): string {
    return this.#id(SPAN_ID_BYTES);
  }

  #id(bytes: number): string {
    for (;;) {
      if (this.#next + bytes > POOL_BYTES) {
        crypto.getRandomValues(this.#pool);
        this.#next = 0;
      }
      let id = "";
      let zero = true;
      for (let i = 0; i < bytes; i++) {
        const byte = this.#pool[this.#next++];
        zero &&= byte === 0;
        id += HEX[byte];
      }
      if (!zero) return id;
    }
  }
}

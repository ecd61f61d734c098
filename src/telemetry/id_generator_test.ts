import assert from "node:assert/strict";
import { PooledIdGenerator } from "./id_generator.ts";

Deno.test("id generator: W3C trace and span ids, lowercase hex, distinct across pool refills", () => {
  const ids = new PooledIdGenerator();
  const traces = new Set<string>();
  const spans = new Set<string>();
  // 1,000 of each draws 24,000 bytes: the 4,096-byte pool is refilled several times.
  for (let i = 0; i < 1000; i++) {
    traces.add(ids.generateTraceId());
    spans.add(ids.generateSpanId());
  }
  assert.equal(traces.size, 1000);
  assert.equal(spans.size, 1000);
  for (const id of traces) assert.match(id, /^(?!0{32})[0-9a-f]{32}$/);
  for (const id of spans) assert.match(id, /^(?!0{16})[0-9a-f]{16}$/);
});

Deno.test("id generator: an all-zero draw is never an id", () => {
  const ids = new PooledIdGenerator();
  const real = crypto.getRandomValues;
  let fills = 0;
  // The first fill is all zeros, as random bytes may be; later fills are real.
  crypto.getRandomValues = (<T extends ArrayBufferView | null>(array: T): T => {
    fills++;
    return fills === 1 ? array : real.call(crypto, array as Uint8Array) as T;
  }) as typeof crypto.getRandomValues;
  try {
    const id = ids.generateSpanId();
    assert.match(id, /^(?!0{16})[0-9a-f]{16}$/);
  } finally {
    crypto.getRandomValues = real;
  }
});

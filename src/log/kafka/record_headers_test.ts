import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { createRecordsBatch, IS_CONTROL } from "@platformatic/kafka";
import type { AbortedTransaction } from "./aborted_filter.ts";
import { scanHeaders } from "./record_headers.ts";

const NAMES = ["id", "print"];
const T0 = 1_700_000_000_000n;

/** Record batch bytes as a broker stores them, starting at offset `base`. */
function batch(
  base: bigint,
  records: { id?: string; print?: string; key?: string }[],
  options: Parameters<typeof createRecordsBatch>[1] = {},
): Uint8Array {
  const bytes = new Uint8Array(
    createRecordsBatch(
      records.map((r, i) => ({
        topic: "t",
        key: r.key === undefined ? undefined : Buffer.from(r.key),
        value: Buffer.from(JSON.stringify({ data: "x".repeat(50 * i) })),
        timestamp: T0 + BigInt(i),
        headers: new Map(
          [["ce_id", r.id], ["id", r.id], ["print", r.print]]
            .filter(([, v]) => v !== undefined)
            .map(([k, v]) => [Buffer.from(k!), Buffer.from(v!)]),
        ),
      })),
      options,
    ).buffer,
  );
  new DataView(bytes.buffer, bytes.byteOffset).setBigInt64(0, base);
  return bytes;
}

const concat = (...parts: Uint8Array[]) => new Uint8Array(Buffer.concat(parts));

/** What `scanHeaders` reports, with the header values as text. */
function scan(bytes: Uint8Array, from: number, aborted: AbortedTransaction[] = []) {
  const seen: { offset: number; at: number; id?: string; print?: string }[] = [];
  const next = scanHeaders(bytes, from, NAMES, (offset, at, b, values) => {
    const text = (i: number) =>
      values[2 * i + 1] < 0
        ? undefined
        : new TextDecoder().decode(b.subarray(values[2 * i], values[2 * i] + values[2 * i + 1]));
    seen.push({ offset, at, id: text(0), print: text(1) });
  }, aborted);
  return { next, seen };
}

Deno.test("scanHeaders reads the wanted headers of every record from an offset on", () => {
  const bytes = concat(
    batch(10n, [{ id: "a", print: "pa", key: "k" }, { id: "bé", print: "pb" }]),
    batch(12n, [{ id: "c" }, { print: "pd" }, { id: "e", print: "pe" }]),
  );
  const { next, seen } = scan(bytes, 11);
  assert.equal(next, 15);
  assert.deepEqual(seen, [
    { offset: 11, at: Number(T0) + 1, id: "bé", print: "pb" },
    { offset: 12, at: Number(T0), id: "c", print: undefined },
    { offset: 13, at: Number(T0) + 1, id: undefined, print: "pd" },
    { offset: 14, at: Number(T0) + 2, id: "e", print: "pe" },
  ]);
});

Deno.test("scanHeaders leaves a batch cut off at the end for the next fetch", () => {
  const whole = batch(0n, [{ id: "a", print: "pa" }]);
  const cut = batch(1n, [{ id: "b", print: "pb" }]);
  assert.deepEqual(scan(concat(whole, cut.subarray(0, cut.length - 3)), 0), {
    next: 1,
    seen: [{ offset: 0, at: Number(T0), id: "a", print: "pa" }],
  });
  assert.equal(scan(cut.subarray(0, 40), 0).next, undefined);
});

Deno.test("scanHeaders reads compressed batches", () => {
  const bytes = batch(5n, [{ id: "a", print: "pa" }, { id: "b", print: "pb" }], {
    compression: "gzip",
  });
  assert.deepEqual(scan(bytes, 0).seen.map((r) => [r.offset, r.id, r.print]), [
    [5, "a", "pa"],
    [6, "b", "pb"],
  ]);
});

Deno.test("scanHeaders skips control batches and aborted transactions but moves past them", () => {
  const control = batch(0n, [{ id: "marker", print: "m" }]);
  const view = new DataView(control.buffer, control.byteOffset);
  view.setInt16(21, view.getInt16(21) | IS_CONTROL);
  const aborted = batch(1n, [{ id: "aborted", print: "x" }], {
    transactionalId: "tx",
    producerId: 7n,
    producerEpoch: 0,
  });
  const committed = batch(2n, [{ id: "kept", print: "k" }], {
    transactionalId: "tx",
    producerId: 8n,
    producerEpoch: 0,
  });
  const { next, seen } = scan(concat(control, aborted, committed), 0, [
    { producerId: 7n, firstOffset: 1n },
  ]);
  assert.equal(next, 3);
  assert.deepEqual(seen.map((r) => r.id), ["kept"]);
});

Deno.test("scanHeaders reads a producer's transaction after the marker that ended its aborted one", () => {
  const tx = (base: bigint, id: string) =>
    batch(base, [{ id, print: id }], { transactionalId: "tx", producerId: 7n, producerEpoch: 1 });
  const marker = tx(1n, "abort-marker");
  const view = new DataView(marker.buffer, marker.byteOffset);
  view.setInt16(21, view.getInt16(21) | IS_CONTROL);
  const { next, seen } = scan(concat(tx(0n, "aborted"), marker, tx(2n, "committed")), 0, [
    { producerId: 7n, firstOffset: 0n },
  ]);
  assert.equal(next, 3);
  assert.deepEqual(seen.map((r) => r.id), ["committed"]);
});

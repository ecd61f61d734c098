import assert from "node:assert/strict";
import { IS_CONTROL, IS_TRANSACTIONAL, type RecordsBatch } from "@platformatic/kafka";
import { Buffer } from "node:buffer";
import { decodeBatches } from "./client.ts";

/** A decoded batch of `ids` (one record each) from `base`, as the library hands it over. */
function batch(base: bigint, ids: string[], producerId = -1n, attributes = 0): RecordsBatch {
  return {
    firstOffset: base,
    length: 0,
    partitionLeaderEpoch: 0,
    magic: 2,
    crc: 0,
    attributes,
    lastOffsetDelta: ids.length - 1,
    firstTimestamp: 1_700_000_000_000n,
    maxTimestamp: 1_700_000_000_000n,
    producerId,
    producerEpoch: 0,
    firstSequence: 0,
    records: ids.map((id, i) => ({
      attributes: 0,
      timestampDelta: 0n,
      offsetDelta: i,
      key: Buffer.from("k"),
      value: Buffer.from(id),
      headers: [],
    })),
  } as unknown as RecordsBatch;
}

Deno.test("decodeBatches hands over committed records only and moves past markers and aborted batches", () => {
  const tx = IS_TRANSACTIONAL;
  const { records, next } = decodeBatches(
    "t",
    0,
    [
      batch(10n, ["a", "b"], 7n, tx), // aborted
      batch(12n, ["abort-marker"], 7n, tx | IS_CONTROL),
      batch(13n, ["c"], 8n, tx),
      batch(14n, ["commit-marker"], 8n, tx | IS_CONTROL),
      batch(15n, ["d"], 7n, tx), // the same producer's next transaction, committed
      batch(16n, ["commit-marker"], 7n, tx | IS_CONTROL),
    ],
    11n,
    [{ producerId: 7n, firstOffset: 10n }],
  );
  assert.deepEqual(records.map((r) => [r.offset, r.value]), [[13n, "c"], [15n, "d"]]);
  assert.equal(next, 17n);
});

Deno.test("decodeBatches of markers alone still moves the next offset on", () => {
  const { records, next } = decodeBatches("t", 0, [
    batch(4n, ["commit-marker"], 3n, IS_TRANSACTIONAL | IS_CONTROL),
  ], 4n);
  assert.deepEqual([records, next], [[], 5n]);
  assert.equal(decodeBatches("t", 0, [], 9n).next, 9n, "nothing fetched: stays");
});

import assert from "node:assert/strict";
import { decodeCursor, encodeCursor, InvalidCursorError } from "./cursor.ts";

Deno.test("a cursor round-trips and is URL-safe", () => {
  const cursor = { topic: "customer-events", next: new Map([[0, 12n], [2, 9007199254740993n]]) };
  const text = encodeCursor(cursor);
  assert.match(text, /^[A-Za-z0-9_-]+$/);
  assert.deepEqual(decodeCursor(text), cursor);
});

Deno.test("a cursor the gateway did not make is rejected", () => {
  for (
    const bad of ["", "!!", "bm9wZQ", encodeCursor({ topic: "t", next: new Map() }).slice(0, 5)]
  ) {
    assert.throws(() => decodeCursor(bad), InvalidCursorError, bad);
  }
  const forged = btoa(JSON.stringify({ t: "t", o: { "0": -1 } })).replace(/=+$/, "");
  assert.throws(() => decodeCursor(forged), InvalidCursorError);
});

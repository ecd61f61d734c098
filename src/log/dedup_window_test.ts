import assert from "node:assert/strict";
import { EventIdConflictError } from "../errors.ts";
import { DedupWindow } from "./dedup_window.ts";

const entry = (at: number, fingerprint = "f1", offset = "7") => ({
  fingerprint,
  topic: "t",
  partition: 1,
  offset,
  at,
});

Deno.test("DedupWindow returns the first write as a duplicate", () => {
  const w = new DedupWindow(1000, () => 100);
  assert.equal(w.check("a", "f1"), undefined);
  w.remember("a", entry(100));
  w.remember("a", { ...entry(100), offset: "9" });
  assert.deepEqual(w.check("a", "f1"), { topic: "t", partition: 1, offset: "7", duplicate: true });
});

Deno.test("DedupWindow rejects reuse with other content", () => {
  const w = new DedupWindow(1000, () => 100);
  w.remember("a", entry(100));
  assert.throws(() => w.check("a", "f2"), EventIdConflictError);
});

Deno.test("DedupWindow forgets ids older than the window", () => {
  let now = 0;
  const w = new DedupWindow(1000, () => now);
  w.remember("old", entry(0));
  now = 1500;
  w.remember("new", entry(1500));
  assert.equal(w.size, 1);
  assert.equal(w.check("old", "f1"), undefined);
  assert.ok(w.check("new", "f1"));
});

Deno.test("DedupWindow remembers an id written again after its first write expired", () => {
  let now = 0;
  const w = new DedupWindow(1000, () => now);
  w.remember("a", entry(0));
  w.remember("held", entry(900)); // newer, so "a" stays held behind it until it expires
  now = 1500;
  assert.equal(w.check("a", "f1"), undefined);
  w.remember("a", entry(1500, "f2", "30"));
  now = 2000; // "a" (0) and "held" (900) expire; the second "a" stays
  w.remember("b", entry(2000));
  assert.deepEqual(w.check("a", "f2"), { topic: "t", partition: 1, offset: "30", duplicate: true });
  assert.equal(w.size, 2);
});

Deno.test("DedupWindow keeps every id through growth and expiry", () => {
  let now = 0;
  const w = new DedupWindow(10_000, () => now);
  const print = (i: number) => `${i}`.padStart(200, "f");
  for (let i = 0; i < 50_000; i++) {
    now = i;
    w.remember(`id-${i}`, { ...entry(i, print(i), String(i)), topic: i % 2 ? "odd" : "even" });
  }
  assert.equal(w.size, 10_001);
  assert.equal(w.check("id-39998", print(39998)), undefined);
  for (let i = 39_999; i < 50_000; i++) {
    assert.deepEqual(w.check(`id-${i}`, print(i)), {
      topic: i % 2 ? "odd" : "even",
      partition: 1,
      offset: String(i),
      duplicate: true,
    });
  }
});

Deno.test("DedupWindow takes ids as bytes and as strings alike, whatever the characters", () => {
  const w = new DedupWindow(1000, () => 100);
  const bytes = new TextEncoder().encode("xxcafé-1f1yy");
  w.rememberEncoded({
    bytes,
    idAt: 2,
    idLength: bytes.length - 6,
    fingerprintAt: bytes.length - 4,
    fingerprintLength: 2,
    topic: "t",
    partition: 2,
    offset: 5,
    at: 100,
  });
  assert.deepEqual(w.check("café-1", "f1"), {
    topic: "t",
    partition: 2,
    offset: "5",
    duplicate: true,
  });
  assert.throws(() => w.check("café-1", "f2"), EventIdConflictError);
  assert.equal(w.check("cafe-1", "f1"), undefined);
  w.remember("café-1", entry(100, "f1", "9"));
  assert.equal(w.size, 1);
});

Deno.test("DedupWindow finds every live id while expired ones are dropped", () => {
  let now = 0;
  const w = new DedupWindow(100, () => now);
  for (let i = 0; i < 1000; i++) {
    now = i;
    w.remember(`id-${i}`, entry(i, `f${i}`, String(i)));
  }
  assert.equal(w.size, 101);
  assert.equal(w.check("id-898", "f898"), undefined);
  for (let i = 899; i < 1000; i++) {
    assert.deepEqual(w.check(`id-${i}`, `f${i}`), {
      topic: "t",
      partition: 1,
      offset: String(i),
      duplicate: true,
    });
  }
});

Deno.test("DedupWindow.has finds an id whatever its content", () => {
  const window = new DedupWindow(60_000);
  window.remember("a", { fingerprint: "f", topic: "t", partition: 0, offset: "1", at: Date.now() });
  assert.deepEqual([window.has("a"), window.has("b")], [true, false]);
});

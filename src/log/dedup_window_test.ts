import assert from "node:assert/strict";
import { EventIdConflictError } from "../errors.ts";
import { DedupWindow } from "./dedup_window.ts";

const entry = (at: number, fingerprint = "f1") => ({
  fingerprint,
  topic: "t",
  partition: 1,
  offset: "7",
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

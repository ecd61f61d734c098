import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { join } from "node:path";
import { DATABASE_FILE } from "./store.ts";
import { EmbeddedWriter, type WriteRecord, type WriterOptions } from "./writer.ts";

const WINDOW_MS = 60_000;
const options = (dataDir: string): WriterOptions => ({
  dataDir,
  partitions: 1,
  dedupWindowMs: WINDOW_MS,
  sync: "normal",
});
const record = (eventId: string, fingerprint = "f", topic = "t"): WriteRecord => ({
  topic,
  key: "k",
  eventId,
  fingerprint,
  value: "{}",
  headers: {},
});
const written = (offset: number, duplicate = false, topic = "t") => ({
  written: { topic, partition: 0, offset: String(offset), duplicate },
});

Deno.test("EmbeddedWriter: a repeat in the same batch is a duplicate, other content a conflict", async () => {
  const writer = new EmbeddedWriter(options(await Deno.makeTempDir()));
  assert.deepEqual(writer.write([record("a"), record("a"), record("a", "g"), record("b")]), [
    written(0),
    written(0, true),
    { conflict: "a" },
    written(1),
  ]);
  assert.deepEqual(writer.write([record("a"), record("b", "g")]), [
    written(0, true),
    { conflict: "b" },
  ]);
  writer.close();
});

Deno.test("EmbeddedWriter: ids are remembered across a reopen only within the window", async () => {
  const dir = await Deno.makeTempDir();
  let now = 1_000_000;
  let writer = new EmbeddedWriter(options(dir), () => now);
  writer.write([record("old"), record("other-topic", "f", "u")]);
  writer.close();

  writer = new EmbeddedWriter(options(dir), () => now);
  assert.deepEqual(writer.write([record("old"), record("other-topic", "f", "u")]), [
    written(0, true),
    written(0, true, "u"),
  ]);
  writer.close();

  // The ids were journaled with the real clock; the window has moved past them.
  now = Date.now() + WINDOW_MS + 1;
  writer = new EmbeddedWriter(options(dir), () => now);
  assert.deepEqual(writer.write([record("old")]), [written(1)], "an expired id is written again");
  writer.close();
});

Deno.test("EmbeddedWriter: a batch that fails leaves no id and no offset behind", async () => {
  const writer = new EmbeddedWriter(options(await Deno.makeTempDir()));
  const unwritable = { ...record("bad"), value: null as unknown as string }; // NOT NULL
  assert.throws(() => writer.write([record("lost"), unwritable]));
  assert.deepEqual(writer.write([record("lost")]), [written(0)], "not a duplicate, same offset");
  writer.close();
});

Deno.test("EmbeddedWriter: prune deletes the expired journal rows", async () => {
  const dir = await Deno.makeTempDir();
  const writer = new EmbeddedWriter({ ...options(dir), dedupWindowMs: 0 });
  writer.write([record("a")]);
  writer.write([record("b")]);
  const db = new DatabaseSync(join(dir, DATABASE_FILE));
  const rows = () => (db.prepare("SELECT COUNT(*) AS n FROM id_journal").get() as { n: number }).n;
  assert.equal(rows(), 2);
  while (
    Date.now() <= (db.prepare("SELECT MAX(written_at) AS t FROM id_journal").get() as {
      t: number;
    }).t
  ) {
    // A window of 0 ms: a row is expired once the clock has moved on.
  }
  assert.equal(writer.prune(), false);
  assert.equal(rows(), 0);
  writer.close();
  db.close();
});

Deno.test("EmbeddedWriter: an older log's event_ids table is moved into the journal", async () => {
  const dir = await Deno.makeTempDir();
  const db = new DatabaseSync(join(dir, DATABASE_FILE));
  db.exec(`CREATE TABLE event_ids (
    event_id TEXT PRIMARY KEY, fingerprint TEXT NOT NULL, topic TEXT NOT NULL,
    partition INTEGER NOT NULL, offset INTEGER NOT NULL, appended_at INTEGER NOT NULL
  ) WITHOUT ROWID`);
  db.prepare("INSERT INTO event_ids VALUES ('legacy', 'f', 't', 0, 7, ?)").run(Date.now());
  db.close();
  const writer = new EmbeddedWriter(options(dir));
  assert.deepEqual(writer.write([record("legacy"), record("legacy", "g")]), [
    written(7, true),
    { conflict: "legacy" },
  ]);
  writer.close();
  const after = new DatabaseSync(join(dir, DATABASE_FILE));
  assert.equal(
    after.prepare("SELECT name FROM sqlite_master WHERE name = 'event_ids'").get(),
    undefined,
  );
  after.close();
});

Deno.test("EmbeddedWriter: a journal of more rows than one load page loads whole, and prunes in pages", async () => {
  const dir = await Deno.makeTempDir();
  let writer = new EmbeddedWriter(options(dir));
  const batches = 2500; // more than the journal's load page and its prune page (1,000 rows each)
  for (let i = 0; i < batches; i++) writer.write([record(`id-${i}`)]);
  writer.close();
  writer = new EmbeddedWriter(options(dir));
  const again = writer.write([record("id-0"), record("id-1234"), record(`id-${batches - 1}`)]);
  assert.deepEqual(again.map((o) => "written" in o && o.written.duplicate), [true, true, true]);
  writer.close();

  // Every row expired: a prune takes a page of them at a time and says when more may be left.
  const expired = new EmbeddedWriter({ ...options(dir), dedupWindowMs: 0 });
  const db = new DatabaseSync(join(dir, DATABASE_FILE));
  const last = (db.prepare("SELECT MAX(written_at) AS t FROM id_journal").get() as { t: number }).t;
  while (Date.now() <= last) {
    // A window of 0 ms: a row is expired once the clock has moved past it.
  }
  const prunes = [expired.prune(), expired.prune(), expired.prune()];
  assert.deepEqual(prunes, [true, true, false]);
  assert.equal((db.prepare("SELECT COUNT(*) AS n FROM id_journal").get() as { n: number }).n, 0);
  expired.close();
  db.close();
});

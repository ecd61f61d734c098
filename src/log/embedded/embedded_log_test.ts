import assert from "node:assert/strict";
import { EventIdConflictError, EventLogUnavailableError } from "../../errors.ts";
import type { LogReader, LogRecord, StoredRecord } from "../event_log.ts";
import { partitionFor } from "../partitioner.ts";
import { EmbeddedLog } from "./embedded_log.ts";
import { join } from "node:path";
import { pathToFileURL } from "node:url";

const options = (dataDir: string) => ({
  dataDir,
  partitions: 3,
  dedupWindowMs: 86_400_000,
  sync: "full" as const,
});

const record = (eventId: string, key: string, fingerprint = "f"): LogRecord => ({
  topic: "customer-events",
  key,
  eventId,
  fingerprint,
  value: JSON.stringify({ event_id: eventId }),
  headers: {},
});

Deno.test("EmbeddedLog assigns Kafka's partition and consecutive offsets", async () => {
  const dir = await Deno.makeTempDir();
  const log = new EmbeddedLog(options(dir));
  const results = await Promise.all([
    log.append(record("e1", "cust1")),
    log.append(record("e2", "cust1")),
    log.append(record("e3", "cust1")),
  ]);
  assert.deepEqual(results.map((r) => r.partition), Array(3).fill(partitionFor("cust1", 3)));
  assert.deepEqual(results.map((r) => r.offset), ["0", "1", "2"]);
  assert.equal(await log.ready(), true, "ready once the writer has opened");
  await log.close();
});

Deno.test("EmbeddedLog dedups within a batch, across batches and after reopening", async () => {
  const dir = await Deno.makeTempDir();
  let log = new EmbeddedLog(options(dir));
  const [first, again] = await Promise.all([
    log.append(record("e1", "c")),
    log.append(record("e1", "c")),
  ]);
  assert.equal(first.duplicate, false);
  assert.deepEqual(again, { ...first, duplicate: true });
  await log.close();

  log = new EmbeddedLog(options(dir));
  assert.deepEqual(await log.append(record("e1", "c")), { ...first, duplicate: true });
  await assert.rejects(log.append(record("e1", "c", "other")), EventIdConflictError);
  const next = await log.append(record("e2", "c"));
  assert.equal(next.offset, "1");
  await log.close();
});

Deno.test("EmbeddedLog refuses a second process on the same folder", async () => {
  const dir = await Deno.makeTempDir();
  const log = new EmbeddedLog(options(dir));
  assert.throws(() => new EmbeddedLog(options(dir)));
  await log.close();
});

/** Lets the event loop turn `n` times (the reader schedules its reads with `setImmediate`). */
const turns = async (n: number) => {
  for (let i = 0; i < n; i++) await new Promise((r) => setImmediate(r));
};

Deno.test("EmbeddedLog's reader reads a page at a time and nothing of a paused partition until resumed", async () => {
  const dir = await Deno.makeTempDir();
  const log = new EmbeddedLog(options(dir));
  const count = 1200;
  await Promise.all(Array.from({ length: count }, (_, i) => log.append(record(`p${i}`, "one"))));
  const partition = partitionFor("one", 3);
  const calls: StoredRecord[][] = [];
  const opened: { reader?: LogReader } = {};
  const reader = await log.read("customer-events", new Map([[partition, 0n]]), (records) => {
    calls.push(records);
    opened.reader!.pause(partition);
  });
  opened.reader = reader;
  while (calls.length === 0) await turns(1);
  const page = calls[0].length;
  assert.ok(page < count, `one page (${page} records), not the whole backlog`);
  await turns(5);
  assert.equal(calls.length, 1, "a paused partition delivers nothing more");
  while (calls.flat().length < count) {
    reader.resume(partition);
    await turns(1);
  }
  assert.deepEqual(
    calls.flat().map((r) => r.offset),
    Array.from({ length: count }, (_, i) => BigInt(i)),
    "every record once, in order, across pauses",
  );
  await reader.close();
  await log.close();
});

Deno.test("EmbeddedLog: a writer that dies answers every append 503, none hangs, and the log is not ready", async () => {
  const dir = await Deno.makeTempDir();
  const broken = join(dir, "broken_writer.ts");
  await Deno.writeTextFile(broken, 'throw new Error("the writer cannot start");\n');
  const log = new EmbeddedLog({ ...options(join(dir, "data")), writerUrl: pathToFileURL(broken) });
  const appends = [log.append(record("e1", "c")), log.append(record("e2", "c"))];
  for (const append of appends) {
    await assert.rejects(append, EventLogUnavailableError);
  }
  await assert.rejects(log.append(record("e3", "c")), EventLogUnavailableError);
  assert.equal(await log.ready(), false);
  await log.close();
  await Deno.remove(dir, { recursive: true });
});

import assert from "node:assert/strict";
import type { EventLog, GroupHandler, StoredRecord } from "../log/event_log.ts";
import { jsonLogger } from "../telemetry/logger.ts";
import { decodeCursor, encodeCursor, InvalidCursorError } from "./cursor.ts";
import { MATCH_ALL } from "./filter.ts";
import { COMMIT_RETRY_MS, GroupFeed } from "./group_feed.ts";
import { FakeClock } from "../../testing/fake_clock.ts";
import { TestSubscriber } from "../../testing/test_subscriber.ts";

/** A log whose group hands every partition to this process and records commits. */
function fakeLog() {
  const commits: [number, bigint][] = [];
  const paused = new Set<number>();
  let refusing = false;
  /** Makes the broker refuse commits (`true`) or take them again. */
  const refuse = (on: boolean) => refusing = on;
  let holding = false;
  const held: (() => void)[] = [];
  /** Holds the answers of commits from now on (`true`), or answers the held ones (`false`). */
  const hold = (on: boolean) => {
    holding = on;
    if (!on) { for (const answer of held.splice(0)) answer(); }
  };
  let handler!: GroupHandler;
  const log = {
    joinGroup(_topic: string, _group: string, _start: string, h: GroupHandler) {
      handler = h;
      h.assigned(new Map([[0, 0n], [1, 0n]]));
      return Promise.resolve({
        pause: (p: number) => paused.add(p),
        resume: (p: number) => paused.delete(p),
        close: () => Promise.resolve(),
        commit: (p: number, next: bigint) => {
          commits.push([p, next]);
          if (!holding) return Promise.resolve(!refusing);
          return new Promise<boolean>((resolve) => held.push(() => resolve(true)));
        },
      });
    },
  } as unknown as EventLog;
  const offset = [0n, 0n];
  const record = (partition: number, id: string): StoredRecord => ({
    topic: "t",
    partition,
    offset: offset[partition]++,
    key: id,
    value: JSON.stringify({
      event_id: id,
      event_type: "CustomerIdentified",
      timestamp: "",
      version: "v1",
      data: {},
    }),
    headers: {},
  });
  const write = (partition: number, id: string) => handler.records([record(partition, id)]);
  /** Hands over `id` again at `at`, as a reader does that starts a partition from its commit. */
  const reread = (partition: number, at: bigint, id: string) => {
    const again = record(partition, id);
    offset[partition]--;
    handler.records([{ ...again, offset: at }]);
  };
  /** The group handler the feed gave the log. */
  const group = () => handler;
  /** Delivers `ids` to partition 0 in one call, as a reader hands over a fetched batch. */
  const batch = (ids: string[]) => handler.records(ids.map((id) => record(0, id)));
  return { log, commits, paused, write, batch, refuse, hold, reread, group };
}

const options = { ackTimeoutMs: 60_000, maxInFlight: 3, dedupWindowMs: 60_000 };
const logger = jsonLogger("error", () => {});
const flush = () => new Promise((r) => setTimeout(r, 0));

Deno.test("GroupFeed gives each partition to one member and commits as members ack", async () => {
  const { log, commits, write } = fakeLog();
  const feed = await GroupFeed.open(log, "t", "g", "latest", options, logger, () => {});
  const a = new TestSubscriber();
  const b = new TestSubscriber();
  feed.attach(a, MATCH_ALL);
  feed.attach(b, MATCH_ALL);
  write(0, "p0-a");
  write(1, "p1-a");
  write(0, "p0-b");
  assert.deepEqual(a.ids(), ["p0-a", "p0-b"]);
  assert.deepEqual(b.ids(), ["p1-a"]);
  feed.ack(a, decodeCursor(a.got[1].cursor!));
  await flush();
  assert.deepEqual(commits.at(-1), [0, 2n]);
  // The ack is confirmed once its commit is done, with the cursor it named.
  assert.deepEqual(a.confirmed, [a.got[1].cursor]);
  assert.deepEqual(b.confirmed, []);
  feed.detach(a);
  feed.detach(b);
});

Deno.test("GroupFeed confirms no ack whose commit failed until a later commit covers it", async () => {
  const { log, commits, write, refuse } = fakeLog();
  const clock = new FakeClock();
  const feed = await GroupFeed.open(
    log,
    "t",
    "g",
    "latest",
    { ...options, clock },
    logger,
    () => {},
  );
  const a = new TestSubscriber();
  feed.attach(a, MATCH_ALL);
  write(0, "c1");
  write(0, "c2");
  refuse(true);
  feed.ack(a, decodeCursor(a.got[0].cursor!));
  await flush();
  assert.deepEqual(commits.at(-1), [0, 1n]);
  assert.deepEqual(a.confirmed, []);
  refuse(false);
  feed.ack(a, decodeCursor(a.got[1].cursor!));
  await flush();
  assert.deepEqual(a.confirmed, [], "nothing is confirmed before the refused commit is retried");
  // The refused commit is sent again by itself after its wait, and now covers both acks.
  await clock.tick(COMMIT_RETRY_MS);
  assert.deepEqual(commits.at(-1), [0, 2n]);
  assert.deepEqual(a.confirmed, [a.got[0].cursor, a.got[1].cursor]);
  feed.detach(a);
});

Deno.test("GroupFeed moves a leaving member's unacked events to another and never redelivers acked ones", async () => {
  const { log, write } = fakeLog();
  const feed = await GroupFeed.open(log, "t", "g", "latest", options, logger, () => {});
  const a = new TestSubscriber();
  const b = new TestSubscriber();
  feed.attach(a, MATCH_ALL);
  feed.attach(b, MATCH_ALL);
  write(0, "x1");
  write(0, "x2");
  feed.ack(a, decodeCursor(a.got[0].cursor!));
  feed.detach(a);
  assert.deepEqual(b.ids(), ["x2"]);
  // The log delivering an acked id again (a duplicate record) does not reach the group.
  write(1, "x1");
  assert.deepEqual(b.ids(), ["x2"]);
  feed.detach(b);
});

Deno.test("GroupFeed redelivers after the ack timeout and pauses a full partition", async () => {
  const { log, paused, write } = fakeLog();
  const clock = new FakeClock();
  const ackTimeoutMs = 1000;
  const feed = await GroupFeed.open(
    log,
    "t",
    "g",
    "latest",
    { ...options, ackTimeoutMs, clock },
    logger,
    () => {},
  );
  const a = new TestSubscriber();
  feed.attach(a, MATCH_ALL);
  write(0, "y1");
  write(0, "y2");
  write(0, "y3");
  assert.ok(paused.has(0));
  const deliveriesOf = (id: string) => a.ids().filter((seen) => seen === id).length;
  await clock.tick(ackTimeoutMs - 1);
  assert.equal(deliveriesOf("y1"), 1, "not redelivered before the ack timeout");
  // The sweep runs every quarter of the ack timeout: by then y1 has timed out.
  await clock.tick(ackTimeoutMs / 4 + 1);
  assert.equal(deliveriesOf("y1"), 2, "redelivered once its ack timed out");
  feed.ack(a, decodeCursor(a.got.at(-1)!.cursor!));
  assert.ok(!paused.has(0));
  feed.detach(a);
});

Deno.test("GroupFeed rejects an ack for a cursor never sent, and auto-acks members that cannot ack", async () => {
  const { log, commits, write } = fakeLog();
  const feed = await GroupFeed.open(log, "t", "g", "latest", options, logger, () => {});
  const sse = new TestSubscriber(false);
  feed.attach(sse, MATCH_ALL);
  write(0, "z1");
  await flush();
  assert.deepEqual(commits.at(-1), [0, 1n]);
  assert.throws(() => feed.ack(sse, { topic: "t", next: new Map([[0, 5n]]) }), InvalidCursorError);
  assert.throws(
    () => feed.ack(sse, decodeCursor(encodeCursor({ topic: "u", next: new Map() }))),
    InvalidCursorError,
  );
  feed.detach(sse);
});

Deno.test("GroupFeed hands a partition over at its member's pace: records wait while it has no credit", async () => {
  const { log, paused, batch } = fakeLog();
  const feed = await GroupFeed.open(
    log,
    "t",
    "g",
    "earliest",
    { ...options, maxInFlight: 100 },
    logger,
    () => {},
  );
  const a = new TestSubscriber();
  a.credit = 4;
  feed.attach(a, MATCH_ALL);
  const ids = Array.from({ length: 10 }, (_, i) => `b${i}`);
  batch(ids);
  assert.deepEqual(a.ids(), ids.slice(0, 4));
  assert.ok(paused.has(0), "the partition's reader is paused while its records wait");
  a.drain(3);
  assert.deepEqual(a.ids(), ids.slice(0, 7));
  assert.ok(paused.has(0));
  a.drain();
  assert.deepEqual(a.ids(), ids);
  assert.ok(!paused.has(0), "the reader resumes once nothing waits");
  feed.detach(a);
});

Deno.test("GroupFeed acks free credit: at most maxInFlight unacked, the rest follows each ack in order", async () => {
  const { log, paused, batch } = fakeLog();
  const feed = await GroupFeed.open(log, "t", "g", "earliest", options, logger, () => {});
  const a = new TestSubscriber();
  feed.attach(a, MATCH_ALL);
  const ids = Array.from({ length: 8 }, (_, i) => `c${i}`);
  batch(ids);
  assert.deepEqual(a.ids(), ids.slice(0, 3));
  assert.ok(paused.has(0));
  while (a.got.length < ids.length) {
    const before = a.got.length;
    feed.ack(a, decodeCursor(a.got.at(-1)!.cursor!));
    assert.ok(a.got.length > before, "an ack lets the next events through");
  }
  assert.deepEqual(a.ids(), ids);
  feed.ack(a, decodeCursor(a.got.at(-1)!.cursor!));
  assert.ok(!paused.has(0));
  feed.detach(a);
});

Deno.test("GroupFeed gives a stalled member's partition and its waiting records to the others when it leaves", async () => {
  const { log, batch } = fakeLog();
  const feed = await GroupFeed.open(
    log,
    "t",
    "g",
    "earliest",
    { ...options, maxInFlight: 100 },
    logger,
    () => {},
  );
  const a = new TestSubscriber();
  a.credit = 2;
  feed.attach(a, MATCH_ALL);
  const ids = Array.from({ length: 5 }, (_, i) => `d${i}`);
  batch(ids);
  assert.deepEqual(a.ids(), ids.slice(0, 2));
  const b = new TestSubscriber();
  feed.attach(b, MATCH_ALL);
  // Partition 0 stays with a (the first member); it leaves, and b gets its unacked and waiting events.
  feed.detach(a);
  assert.deepEqual(b.ids(), ids);
  feed.detach(b);
});

Deno.test("GroupFeed keeps records read before any member, and hands them over after attach returns", async () => {
  const { log, paused, batch } = fakeLog();
  const feed = await GroupFeed.open(log, "t", "g", "earliest", options, logger, () => {});
  batch(["w0", "w1"]);
  assert.ok(paused.has(0), "no member yet: the records wait, the reader is paused");
  const a = new TestSubscriber();
  feed.attach(a, MATCH_ALL);
  assert.deepEqual(a.ids(), [], "nothing before the caller's ready frame");
  await new Promise((r) => setTimeout(r, 0));
  assert.deepEqual(a.ids(), ["w0", "w1"]);
  feed.detach(a);
});

/** A member whose socket is gone: every send fails. */
class GoneSubscriber extends TestSubscriber {
  override send(): boolean {
    return false;
  }
}

Deno.test("GroupFeed survives every member leaving at once while events are unacked", async () => {
  const { log, write } = fakeLog();
  const left = Promise.withResolvers<void>();
  const feed = await GroupFeed.open(log, "t", "g", "latest", options, logger, () => left.resolve());
  const a = new TestSubscriber();
  feed.attach(a, MATCH_ALL);
  write(0, "w1");
  write(1, "w2");
  const b = new GoneSubscriber();
  const c = new GoneSubscriber();
  feed.attach(b, MATCH_ALL);
  feed.attach(c, MATCH_ALL);
  // a leaves with two unacked events; handing them over finds b and c gone too.
  feed.detach(a);
  await left.promise;
  assert.equal(feed.attach(new TestSubscriber(), MATCH_ALL), false, "the group was left");
});

Deno.test("GroupFeed delivers again, once its partition comes back, an event whose ack was never committed", async () => {
  const { log, write, refuse, reread, group } = fakeLog();
  const feed = await GroupFeed.open(log, "t", "g", "latest", options, logger, () => {});
  const a = new TestSubscriber();
  feed.attach(a, MATCH_ALL);
  write(0, "x");
  refuse(true);
  feed.ack(a, decodeCursor(a.got[0].cursor!));
  await flush();
  assert.deepEqual(a.confirmed, [], "the refused commit confirms nothing");
  // The partition is set aside (a stalled membership) and comes back: read again from its commit.
  group().revoked([0]);
  group().assigned(new Map([[0, 0n]]));
  refuse(false);
  reread(0, 0n, "x");
  assert.deepEqual(a.ids(), ["x", "x"], "an ack never committed does not hide the event");
  feed.ack(a, decodeCursor(a.got[1].cursor!));
  await flush();
  assert.deepEqual(a.confirmed, [a.got[1].cursor]);
  feed.detach(a);
});

Deno.test("GroupFeed confirms a commit that lands after its partition was set aside, and never delivers its events again", async () => {
  const { log, write, hold, reread, group } = fakeLog();
  const feed = await GroupFeed.open(log, "t", "g", "latest", options, logger, () => {});
  const a = new TestSubscriber();
  feed.attach(a, MATCH_ALL);
  write(0, "late");
  write(0, "after");
  hold(true);
  feed.ack(a, decodeCursor(a.got[0].cursor!));
  await flush();
  // Heartbeats stall while the commit waits for its answer: the partition is set aside, and it
  // comes back read from an offset fetched before the commit landed.
  group().revoked([0]);
  group().assigned(new Map([[0, 0n]]));
  hold(false);
  await flush();
  assert.deepEqual(a.confirmed, [a.got[0].cursor], "the group kept the commit: the ack counts");
  reread(0, 0n, "late");
  reread(0, 1n, "after");
  assert.deepEqual(a.ids(), ["late", "after", "after"], "what it confirmed is not delivered again");
  feed.detach(a);
});

Deno.test("GroupFeed confirms acks whose commit answer was lost once the partition comes back past them", async () => {
  const { log, write, refuse, reread, group } = fakeLog();
  const feed = await GroupFeed.open(log, "t", "g", "latest", options, logger, () => {});
  const a = new TestSubscriber();
  feed.attach(a, MATCH_ALL);
  write(0, "kept");
  write(0, "not-kept");
  // Both commits fail as far as the feed knows; the broker stored the first one.
  refuse(true);
  feed.ack(a, decodeCursor(a.got[0].cursor!));
  await flush();
  feed.ack(a, decodeCursor(a.got[1].cursor!));
  await flush();
  assert.deepEqual(a.confirmed, []);
  group().revoked([0]);
  refuse(false);
  group().assigned(new Map([[0, 1n]]));
  assert.deepEqual(a.confirmed, [a.got[0].cursor], "read from offset 1: the first ack was kept");
  // The second was not: its event comes again and its new ack is confirmed.
  reread(0, 1n, "not-kept");
  assert.deepEqual(a.ids(), ["kept", "not-kept", "not-kept"]);
  feed.ack(a, decodeCursor(a.got[2].cursor!));
  await flush();
  assert.deepEqual(a.confirmed, [a.got[0].cursor, a.got[2].cursor]);
  feed.detach(a);
});

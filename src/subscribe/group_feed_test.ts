import assert from "node:assert/strict";
import type { EventLog, GroupHandler, StoredRecord } from "../log/event_log.ts";
import { jsonLogger } from "../telemetry/logger.ts";
import { decodeCursor, encodeCursor, InvalidCursorError } from "./cursor.ts";
import type { Delivery, Subscriber } from "./delivery.ts";
import { MATCH_ALL } from "./filter.ts";
import { GroupFeed } from "./group_feed.ts";

/** A log whose group hands every partition to this process and records commits. */
function fakeLog() {
  const commits: [number, bigint][] = [];
  const paused = new Set<number>();
  let handler!: GroupHandler;
  const log = {
    joinGroup(_topic: string, _group: string, _start: string, h: GroupHandler) {
      handler = h;
      h.assigned([0, 1]);
      return Promise.resolve({
        pause: (p: number) => paused.add(p),
        resume: (p: number) => paused.delete(p),
        close: () => Promise.resolve(),
        commit: (p: number, next: bigint) => {
          commits.push([p, next]);
          return Promise.resolve();
        },
      });
    },
  } as unknown as EventLog;
  const offset = [0n, 0n];
  const write = (partition: number, id: string) => {
    const record: StoredRecord = {
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
    };
    handler.records([record]);
  };
  return { log, commits, paused, write };
}

class Member implements Subscriber {
  readonly got: Delivery[] = [];
  constructor(readonly acks = true) {}
  send(d: Delivery) {
    this.got.push(d);
    return true;
  }
  ready() {}
  close() {}
  ids() {
    return this.got.map((d) => d.envelope.event_id);
  }
}

const options = { ackTimeoutMs: 60_000, maxInFlight: 3, dedupWindowMs: 60_000 };
const logger = jsonLogger("error", () => {});
const flush = () => new Promise((r) => setTimeout(r, 0));

Deno.test("GroupFeed gives each partition to one member and commits as members ack", async () => {
  const { log, commits, write } = fakeLog();
  const feed = await GroupFeed.open(log, "t", "g", "latest", options, logger, () => {});
  const a = new Member();
  const b = new Member();
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
  feed.detach(a);
  feed.detach(b);
});

Deno.test("GroupFeed moves a leaving member's unacked events to another and never redelivers acked ones", async () => {
  const { log, write } = fakeLog();
  const feed = await GroupFeed.open(log, "t", "g", "latest", options, logger, () => {});
  const a = new Member();
  const b = new Member();
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
  const feed = await GroupFeed.open(
    log,
    "t",
    "g",
    "latest",
    { ...options, ackTimeoutMs: 50 },
    logger,
    () => {},
  );
  const a = new Member();
  feed.attach(a, MATCH_ALL);
  write(0, "y1");
  write(0, "y2");
  write(0, "y3");
  assert.ok(paused.has(0));
  // Wait for the redelivery itself, not for a fixed time.
  while (a.ids().filter((id) => id === "y1").length < 2) {
    await new Promise((r) => setTimeout(r, 10));
  }
  feed.ack(a, decodeCursor(a.got.at(-1)!.cursor!));
  assert.ok(!paused.has(0));
  feed.detach(a);
});

Deno.test("GroupFeed rejects an ack for a cursor never sent, and auto-acks members that cannot ack", async () => {
  const { log, commits, write } = fakeLog();
  const feed = await GroupFeed.open(log, "t", "g", "latest", options, logger, () => {});
  const sse = new Member(false);
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

import assert from "node:assert/strict";
import { DURABLE_HEADER, InProcessBus } from "../bus/live_bus.ts";
import type { EventLog, RecordHandler, StoredRecord } from "../log/event_log.ts";
import { jsonLogger } from "../telemetry/logger.ts";
import { decodeCursor } from "./cursor.ts";
import { DurableFeed, LiveFeed } from "./feeds.ts";
import { MATCH_ALL } from "./filter.ts";
import { TestSubscriber } from "../../testing/test_subscriber.ts";

/** A two-partition log whose reader records pauses and hands over what a test writes. */
function fakeLog() {
  const paused = new Set<number>();
  let handler!: RecordHandler;
  const log = {
    offsets: () => Promise.resolve([0, 1].map((partition) => ({ partition, low: 0n, high: 0n }))),
    read(_topic: string, _from: ReadonlyMap<number, bigint>, h: RecordHandler) {
      handler = h;
      return Promise.resolve({
        pause: (p: number) => paused.add(p),
        resume: (p: number) => paused.delete(p),
        close: () => Promise.resolve(),
      });
    },
  } as unknown as EventLog;
  const offset = [0n, 0n];
  /** Hands `ids` over in one call, alternating partitions, as a reader delivers a fetched batch. */
  const batch = (ids: string[]) =>
    handler(ids.map((id, i): StoredRecord => {
      const partition = i % 2;
      return {
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
    }));
  return { log, paused, batch };
}

const logger = jsonLogger("error", () => {});
const ids = (n: number, prefix = "e") => Array.from({ length: n }, (_, i) => `${prefix}${i}`);

Deno.test("DurableFeed sends at the pace of its slowest subscriber and pauses the reader meanwhile", async () => {
  const { log, paused, batch } = fakeLog();
  const feed = await DurableFeed.open(log, "t", new Map(), logger, () => {});
  const fast = new TestSubscriber();
  const slow = new TestSubscriber();
  slow.credit = 4;
  feed.attach(fast, MATCH_ALL);
  feed.attach(slow, MATCH_ALL);
  const sent = ids(10);
  batch(sent);
  assert.deepEqual(slow.ids(), sent.slice(0, 4));
  assert.deepEqual(fast.ids(), sent.slice(0, 4), "the fast one waits for the slow one");
  assert.deepEqual([...paused].sort(), [0, 1], "every partition's reader is paused");
  slow.drain(3);
  assert.deepEqual(fast.ids(), sent.slice(0, 7));
  assert.deepEqual([...paused].sort(), [0, 1]);
  slow.drain();
  assert.deepEqual(fast.ids(), sent);
  assert.deepEqual(slow.ids(), sent);
  assert.deepEqual([...paused], [], "the reader resumes once nothing waits");
  feed.detach(fast);
  feed.detach(slow);
});

Deno.test("DurableFeed goes on without a subscriber that leaves while it has no credit", async () => {
  const { log, paused, batch } = fakeLog();
  const feed = await DurableFeed.open(log, "t", new Map(), logger, () => {});
  const fast = new TestSubscriber();
  const stalled = new TestSubscriber();
  stalled.credit = 1;
  feed.attach(fast, MATCH_ALL);
  feed.attach(stalled, MATCH_ALL);
  const sent = ids(6);
  batch(sent);
  assert.deepEqual(fast.ids(), sent.slice(0, 1));
  feed.detach(stalled);
  assert.deepEqual(fast.ids(), sent);
  assert.deepEqual([...paused], []);
  feed.detach(fast);
});

Deno.test("DurableFeed with onBehind lets a subscriber out of credit go, with its position, and never waits", async () => {
  const { log, paused, batch } = fakeLog();
  const behind: [TestSubscriber, Map<number, bigint>][] = [];
  const feed = await DurableFeed.open(log, "t", new Map(), logger, () => {}, (s, next) => {
    behind.push([s as TestSubscriber, new Map(next)]);
  });
  const fast = new TestSubscriber();
  const slow = new TestSubscriber();
  slow.credit = 3;
  feed.attach(fast, MATCH_ALL);
  feed.attach(slow, MATCH_ALL);
  const sent = ids(10);
  batch(sent);
  assert.deepEqual(fast.ids(), sent, "the fast one does not wait");
  assert.deepEqual(slow.ids(), sent.slice(0, 3));
  // e0 and e2 went to partition 0, e1 to partition 1: it goes on after them.
  assert.deepEqual(behind, [[slow, new Map([[0, 2n], [1, 1n]])]]);
  assert.deepEqual([...paused], [], "the reader was never paused");
  slow.drain();
  assert.deepEqual(slow.ids(), sent.slice(0, 3), "it gets nothing more from this feed");
  feed.detach(fast);
});

Deno.test("DurableFeed goes on when a subscriber leaves inside its own send", async () => {
  const { log, paused, batch } = fakeLog();
  const feed = await DurableFeed.open(log, "t", new Map(), logger, () => {});
  const other = new TestSubscriber();
  // An SSE stream can be cancelled as a frame goes out: the subscriber leaves from inside
  // `send`, which still reports the frame taken, with no credit left.
  const leaving = new (class extends TestSubscriber {
    override send(d: Parameters<TestSubscriber["send"]>[0]): boolean {
      super.send(d);
      this.credit = 0;
      feed.detach(this);
      return true;
    }
  })();
  feed.attach(other, MATCH_ALL);
  feed.attach(leaving, MATCH_ALL);
  const sent = ids(4);
  batch(sent);
  assert.deepEqual(leaving.ids(), ["e0"]);
  assert.deepEqual(other.ids(), sent, "the one that left holds nobody back");
  assert.deepEqual([...paused], []);
  feed.detach(other);
});

Deno.test("DurableFeed's cursor is the position after the last event sent, not the last one read", async () => {
  const { log, batch } = fakeLog();
  const feed = await DurableFeed.open(log, "t", new Map(), logger, () => {});
  const slow = new TestSubscriber();
  slow.credit = 3;
  feed.attach(slow, MATCH_ALL);
  batch(ids(6));
  // Events 0 and 2 went to partition 0, event 1 to partition 1.
  assert.deepEqual(decodeCursor(feed.cursor()).next, new Map([[0, 2n], [1, 1n]]));
  // A subscriber joining now starts there and gets the rest, in order, with the others.
  const late = new TestSubscriber();
  feed.attach(late, MATCH_ALL);
  slow.drain();
  assert.deepEqual(late.ids(), ["e3", "e4", "e5"]);
  feed.detach(slow);
  feed.detach(late);
});

Deno.test("DurableFeed stops sending once its last subscriber left, and takes no new one", async () => {
  const { log, batch } = fakeLog();
  let gone = false;
  const feed = await DurableFeed.open(log, "t", new Map(), logger, () => gone = true);
  const only = new TestSubscriber();
  only.credit = 1;
  feed.attach(only, MATCH_ALL);
  batch(ids(3));
  feed.detach(only);
  assert.ok(gone);
  only.drain();
  assert.deepEqual(only.ids(), ["e0"]);
  assert.equal(feed.attach(new TestSubscriber(), MATCH_ALL), false);
});

Deno.test("LiveFeed drops a repeat of an event id and marks a mirror sent before the durable ack", async () => {
  const bus = new InProcessBus();
  const feed = await LiveFeed.open(bus, "n.>", () => {});
  const client = new TestSubscriber();
  feed.attach(client, MATCH_ALL);
  const message = (id: string, headers: Record<string, string> = {}) => ({
    subject: "n.customer_identified",
    data: JSON.stringify({
      event_id: id,
      event_type: "CustomerIdentified",
      timestamp: "",
      version: "v1",
      data: {},
    }),
    headers,
  });
  bus.publish(message("a", { [DURABLE_HEADER]: "false" }));
  // The client's retry of "a" is mirrored again; live subscribers get it once.
  bus.publish(message("a", { [DURABLE_HEADER]: "false" }));
  bus.publish(message("b"));
  await new Promise((r) => setTimeout(r, 0)); // the in-process bus delivers in microtasks
  assert.deepEqual(client.ids(), ["a", "b"]);
  assert.deepEqual(client.got.map((d) => d.durable), [false, true]);
  feed.detach(client);
});

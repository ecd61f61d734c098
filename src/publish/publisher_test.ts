import assert from "node:assert/strict";
import { DURABLE_HEADER, InProcessBus, type LiveMessage } from "../bus/live_bus.ts";
import { EventRegistry } from "../events/registry.ts";
import type { AppendResult, EventLog, LogRecord } from "../log/event_log.ts";
import { DESIGN_EVENT } from "../../testing/design_event.ts";
import type { Envelope } from "../events/envelope.ts";
import { type MirrorMode, Publisher } from "./publisher.ts";

/** A log whose appends wait until the test settles them. */
function heldLog() {
  const held: { record: LogRecord; settle: (r: AppendResult) => void }[] = [];
  const log: Pick<EventLog, "append"> = {
    append: (record) => new Promise((resolve) => held.push({ record, settle: resolve })),
  };
  return { log, held };
}

function setup(mirror: MirrorMode) {
  const { log, held } = heldLog();
  const bus = new InProcessBus();
  const mirrored: LiveMessage[] = [];
  bus.publish = (message) => {
    mirrored.push(message);
    return true;
  };
  const publisher = new Publisher(log, bus, {
    topic: "t",
    subjectPrefix: "n",
    onMirrorDropped: () => {},
    mirror,
  });
  const type = new EventRegistry().get("CustomerIdentified", "v1")!;
  return { publisher, held, mirrored, type };
}

const event = (): Envelope<Record<string, unknown>> => JSON.parse(DESIGN_EVENT);
const EVENT_ID = event().event_id;

const stored = (duplicate: boolean): AppendResult => ({
  topic: "t",
  partition: 0,
  offset: "7",
  duplicate,
});

Deno.test("immediate mirror: sent before the durable write is acknowledged, marked not durable", async () => {
  const { publisher, held, mirrored, type } = setup("immediate");
  const result = publisher.publish(event(), type);
  assert.equal(held.length, 1);
  assert.equal(mirrored.length, 1, "mirrored while the write is still pending");
  assert.equal(mirrored[0].headers[DURABLE_HEADER], "false");
  assert.equal(mirrored[0].headers["Nats-Msg-Id"], EVENT_ID);
  held[0].settle(stored(false));
  assert.equal((await result).offset, "7");
  assert.equal(mirrored.length, 1, "not mirrored again after the ack");
});

Deno.test("after_ack mirror: sent only once the log acknowledged a new event, never for a duplicate", async () => {
  const { publisher, held, mirrored, type } = setup("after_ack");
  const first = publisher.publish(event(), type);
  assert.equal(mirrored.length, 0, "nothing mirrored before the ack");
  held[0].settle(stored(false));
  await first;
  assert.equal(mirrored.length, 1);
  assert.equal(mirrored[0].headers[DURABLE_HEADER], undefined);
  const retry = publisher.publish(event(), type);
  held[1].settle(stored(true));
  assert.equal((await retry).duplicate, true);
  assert.equal(mirrored.length, 1, "a duplicate is not mirrored");
});

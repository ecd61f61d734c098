/**
 * A consumer group across gateway processes when one of them is killed with
 * -9 and another joins while the dead member's session still runs: the
 * surviving member's rejoin waits on the coordinator for the whole rebalance,
 * and its commits must go on once the group has settled.
 */
import assert from "node:assert/strict";
import { BACKENDS } from "../testing/backends.ts";
import {
  type Frame,
  type GatewayProcess,
  identification,
  type SocketClient,
  startGateway,
  subscribeWs,
  uniqueTopic,
  waitUntil,
} from "../testing/harness.ts";

/** Longer than the group session timeout (10 s) plus a rebalance, with room for a slow machine. */
const SETTLE_MS = 45_000;
/** How long a confirmed ack may take once the group has settled: one commit round trip, with slack. */
const CONFIRM_MS = 5_000;

/** The gateway's last warnings, for a failure's message. */
function warnings(gateway: GatewayProcess): string {
  return gateway.lines.filter((l) => l.includes('"level":"warn"')).slice(-5).join("\n");
}

/** Acks every event a member gets, as soon as it gets it. */
function ackEverything(ws: SocketClient, acks: Map<string, number>): () => void {
  let stopped = false;
  const seen = ws.seen.length;
  (async () => {
    let next = seen;
    while (!stopped) {
      while (next < ws.seen.length) {
        const frame: Frame = ws.seen[next++];
        ws.send({ type: "ack", cursor: frame.cursor });
        acks.set(frame.cursor, Date.now());
      }
      await new Promise((r) => setTimeout(r, 20));
    }
  })();
  return () => stopped = true;
}

Deno.test("kafka: a group member's commits go on after another member is killed and a new one joins", async () => {
  const env = await BACKENDS[1].env();
  const one = await startGateway(env);
  const two = await startGateway(env);
  let three: GatewayProcess | undefined;
  const group = uniqueTopic("failover");
  const publish = async (ids: string[]) => {
    for (const [i, id] of ids.entries()) {
      const res = await one.post(
        "/v1/identifications",
        identification({ event_id: id, customer_id: `cust-${id}-${i}` }),
      );
      await res.body?.cancel();
      assert.equal(res.status, 202);
    }
  };
  try {
    const a = await subscribeWs(one.url, `group=${group}`);
    const b = await subscribeWs(two.url, `group=${group}`);
    await publish(Array.from({ length: 20 }, (_, i) => `before-${i}`));
    await waitUntil(() => a.seen.length > 0 && b.seen.length > 0, "both members got events");

    await two.stop("SIGKILL");
    three = await startGateway(env);
    // Its join waits on the coordinator until the killed member's session has run out.
    const c = await subscribeWs(three.url, `group=${group}`).catch((error) => {
      throw new Error(`the new member could not join:\n${warnings(three!)}`, { cause: error });
    });
    // The group settles once the killed member's session has run out and the rebalance is done:
    // the new member then owns partitions and gets their events.
    const acks = new Map<string, number>();
    const stopA = ackEverything(a, acks);
    const stopC = ackEverything(c, acks);
    let checks = 0;
    await waitUntil(
      () => {
        if (c.seen.length > 0) return true;
        // One event every 200 ms keeps every partition busy while the group settles.
        if (checks++ % 10 === 0) void publish([`settling-${checks}`]).catch(() => {});
        return false;
      },
      "the new member got events",
      SETTLE_MS,
    );

    const after = Array.from({ length: 30 }, (_, i) => `after-${i}`);
    const from = { a: a.seen.length, c: c.seen.length };
    await publish(after);
    const got = () => [...a.seen.slice(from.a), ...c.seen.slice(from.c)];
    await waitUntil(() => got().length >= after.length, "every later event reached a member");
    const cursors = got().map((f) => f.cursor as string);
    const confirmed = () => cursors.filter((cur) => [...a.acked, ...c.acked].includes(cur));
    await waitUntil(
      () => confirmed().length === cursors.length,
      `every ack of a later event confirmed within ${CONFIRM_MS} ms`,
      CONFIRM_MS,
    ).catch((error) => {
      throw new Error(
        `${confirmed().length} of ${cursors.length} acks confirmed; warnings:\n${warnings(one)}`,
        { cause: error },
      );
    });
    stopA();
    stopC();
    await Promise.all([a.close(), c.close()]);
  } finally {
    await Promise.all([one.stop(), two.stop(), three?.stop()]);
  }
});

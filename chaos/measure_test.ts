import assert from "node:assert/strict";
import type { Ack, Attempt, Outcome } from "../testing/publish_load.ts";
import { longestGaps, measure, quantile, recovery, type RoundRecord, table } from "./measure.ts";

const attempt = (
  partition: number,
  sentAt: number,
  endAt: number,
  outcome: Outcome = 202,
  eventId = `e-${sentAt}`,
): Attempt => ({ eventId, partition, gateway: 0, sentAt, endAt, outcome });

const ack = (eventId: string, partition: number, offset: number, status = 202): Ack => ({
  eventId,
  expectedPartition: partition,
  status,
  partition,
  offset: String(offset),
  at: 0,
  attempts: 1,
});

function record(overrides: Partial<RoundRecord> = {}): RoundRecord {
  return {
    scenario: "leader-kill",
    round: 1,
    partitions: 2,
    leaderKill: true,
    expectNoAcks: false,
    loadStart: 0,
    loadEnd: 1000,
    faultStart: 100,
    faultActive: 150,
    faultEnd: 600,
    attempts: [],
    acks: new Map(),
    unacked: [],
    stored: [],
    subscriber: { received: new Map(), rewinds: 0, samples: [] },
    group: { acked: new Set(), redeliveredAfterAck: new Set() },
    ...overrides,
  };
}

Deno.test("quantile: nearest rank", () => {
  assert.equal(quantile([], 0.99), 0);
  assert.equal(quantile([5, 1, 3], 0.5), 3);
  assert.equal(quantile(Array.from({ length: 100 }, (_, i) => i + 1), 0.99), 99);
});

Deno.test("longestGaps: per partition, between 2xx answers, window edges included", () => {
  const gaps = longestGaps(
    [
      attempt(0, 0, 100),
      attempt(0, 100, 700),
      attempt(0, 700, 750, 503),
      attempt(0, 750, 900),
      attempt(1, 0, 50),
    ],
    2,
    0,
    1000,
  );
  assert.deepEqual(gaps, [600, 950]);
});

Deno.test("recovery: until the first 2xx sent after the last failed or slow attempt of the fault", () => {
  const attempts = [
    attempt(0, 120, 130, 503),
    attempt(0, 300, 320, 503),
    attempt(0, 310, 400), // sent after the last failure? no: before it
    attempt(0, 330, 380),
    attempt(1, 200, 1500), // slow: counts as bad
    attempt(1, 1600, 1650),
    attempt(1, 400, 450, "connection"), // a gateway that is down does not count
  ];
  assert.equal(recovery(attempts, 2, 100, 600), 1650 - 100);
  assert.equal(recovery([attempt(0, 200, 210)], 2, 100, 600), 0);
});

Deno.test("measure: lost, duplicate records and offset mismatches against the topic", () => {
  const row = measure(record({
    acks: new Map([
      ["a", ack("a", 0, 0)],
      ["b", ack("b", 0, 1)],
      ["c", ack("c", 1, 0, 200)],
      ["d", ack("d", 1, 5)],
    ]),
    stored: [
      { id: "a", partition: 0, offset: 0n },
      { id: "b", partition: 0, offset: 2n },
      { id: "c", partition: 1, offset: 0n },
      { id: "c", partition: 1, offset: 1n },
    ],
    subscriber: { received: new Map([["a", 1]]), rewinds: 2, samples: [] },
    group: { acked: new Set(["a", "b", "c", "d"]), redeliveredAfterAck: new Set(["c"]) },
  }));
  assert.equal(row.acked, 4);
  assert.equal(row.lost, 1);
  assert.equal(row.offsetMismatches, 1);
  assert.equal(row.duplicateRecords, 1);
  assert.equal(row.duplicatesToGroup, 1);
  assert.equal(row.rewinds, 2);
  assert.equal(row.subscriberMissed, 3);
  assert.deepEqual(row.failed, [
    "lost",
    "dup-records",
    "dup-to-group",
    "rewinds",
    "offsets",
    "undelivered",
  ]);
});

Deno.test("measure: late attempts, p99 during the fault, acks while below min ISR", () => {
  const row = measure(record({
    leaderKill: false,
    expectNoAcks: true,
    attempts: [
      attempt(0, 0, 10),
      attempt(1, 5, 15),
      attempt(0, 160, 5300, 503),
      attempt(1, 170, 200), // a 202 sent and answered while the fault held
      attempt(1, 180, 10_180, "timeout"),
      attempt(0, 700, 710),
      attempt(1, 700, 720),
      attempt(0, 990, 1000),
      attempt(1, 990, 1000),
    ],
  }));
  assert.equal(row.late, 2);
  assert.equal(row.ackedInFault, 1);
  assert.equal(row.p99FaultMs, 10_000);
  assert.deepEqual(row.failed, ["deadline", "acked-below-min-isr"]);
  assert.match(table([row]), /\| leader-kill \| 1 {5}\| +0 \|/);
});

Deno.test("measure: warm-up before steady state counts for storage, not for deadlines", () => {
  const acks = new Map([["cold", ack("cold", 0, 0)], ["warm", ack("warm", 1, 0)]]);
  const row = measure(record({
    loadStart: 0,
    steadyAt: 6000,
    faultStart: 7000,
    faultActive: 7000,
    faultEnd: 8000,
    loadEnd: 9000,
    attempts: [
      attempt(0, 0, 5500, 202, "cold"),
      ...Array.from({ length: 30 }, (_, i) => attempt(i % 2, 6000 + i * 100, 6000 + i * 100 + 20)),
      attempt(1, 6100, 6150, 202, "warm"),
    ],
    acks,
    stored: [{ id: "warm", partition: 1, offset: 0n }],
  }));
  assert.equal(row.late, 0);
  assert.equal(row.slowestMs, 50);
  assert.equal(row.lost, 1, "an event acked during warm-up and missing is still lost");
  assert.match(row.notes.join("\n"), /warm-up: 1 attempts in 6\.0 s .* slowest 5\.5 s, 1 late/);

  const cold = measure(
    record({ loadStart: 0, attempts: [attempt(0, 0, 5500), attempt(0, 100, 5200)] }),
  );
  assert.equal(cold.late, 1, "without a steady state, attempts from the fault on are measured");
  assert.match(
    cold.notes.join("\n"),
    /warm-up: 1 attempts .* before the fault \(no steady state\), slowest 5\.5 s, 1 late/,
  );
});

Deno.test("measure: without a steady state, gaps count from the fault, not from the first answers", () => {
  const row = measure(record({
    partitions: 1,
    loadStart: 0,
    faultStart: 3000,
    faultActive: 3000,
    faultEnd: 4000,
    loadEnd: 5000,
    attempts: Array.from({ length: 50 }, (_, i) => attempt(0, 1500 + i * 100, 1500 + i * 100 + 10)),
  }));
  assert.equal(row.maxGapMs, 100, "the 1.5 s before the first answer is warm-up, not a gap");
});

Deno.test("measure: a long round's attempts (500,000) do not overflow the stack; slowest found", () => {
  const attempts = Array.from(
    { length: 500_000 },
    (_, i) => attempt(i % 2, i / 1000, i / 1000 + (i === 123_456 ? 7000 : 5), 503),
  );
  const row = measure(record({ loadEnd: 300, faultEnd: 250, attempts, steadyAt: 100 }));
  assert.equal(row.slowestMs, 7000);
});

/**
 * `deno task capacity`: the capacity plan, recomputed from a benchmark run
 * (`deno task bench -- --json FILE`) and the load assumptions
 * (`docs/capacity_assumptions.json`). Prints, for each scenario (launch:
 * 1,000 restaurants; design scale: 10 million users), the event rates, and
 * the partitions, gateway processes, Kafka brokers and disk, NATS, and
 * connections and memory per gateway, with the formula of each line.
 *
 * Usage: `deno task capacity [--bench FILE] [--assumptions FILE] [--json]`.
 *
 * @module
 */
import { parseArgs } from "node:util";
import type { MachineLoad } from "./machine.ts";
import type { Run } from "./wrk.ts";

/** What `deno task bench -- --json FILE` writes. */
export interface BenchReport {
  /** CPU cores of the machine the bench ran on. */
  cores: number;
  /**
   * Requests (or messages) per second of the baselines; and the milliseconds
   * of one Kafka transaction of one record, one after another (the floor of a
   * publish on Kafka), in reports that have it.
   */
  baselines: {
    hello: number;
    honoZod: number;
    kafkaRaw: number;
    kafkaTransactionP50Ms?: number;
    kafkaTransactionP99Ms?: number;
  };
  /** Gateway publish runs by backend, then by load (`c=1`, `c=16`, `c=64`, `2000/s`). */
  publish: Record<string, Record<string, Run>>;
  /** Subscription figures. */
  subscriptions: {
    durableP99Ms: number;
    liveP99Ms: number;
    fanOutDeliveriesPerSecond: number;
    bytesPerConnection: number;
    replayEventsPerSecond: number;
  };
  /** Publish events/s at c=64 by backend and tracing setting (`<backend>: <setting>`). */
  tracing: Record<string, number>;
  /** Publish events/s at c=64 by backend and credential. */
  auth: Record<string, { none: number; apiKey: number; jwt: number }>;
  /** Share of the cores busy, and stolen by the hypervisor, during each section (in reports that have it). */
  machine?: Record<string, MachineLoad>;
}

/** One load scenario: how many guests, and how they arrive. */
export interface Scenario {
  /** Its name in the table. */
  name: string;
  /** Guest visits per day, over all restaurants. */
  visitsPerDay: number;
  /** Restaurants (each with its staff screens). */
  restaurants: number;
}

/** The load model's assumptions (see `docs/capacity.md`). */
export interface Assumptions {
  scenarios: Scenario[];
  /** `CustomerIdentified` events per visit (arrival, table changes, re-detections). */
  identificationsPerVisit: number;
  /** Share of a day's visits in its busiest hour. */
  peakHourShare: number;
  /** Busiest second over the busiest hour's average second. */
  burstFactor: number;
  /** Staff screens per restaurant, each one live subscription. */
  screensPerRestaurant: number;
  /** Share of the guests seated at the peak with the app open (one subscription each). */
  appShare: number;
  /** Average visit length, in hours: guests seated at once = peak-hour visits x this. */
  visitHours: number;
  /** Consumer groups of the platform's services (recommendation, notification, analytics). */
  serviceGroups: number;
  /** Deliveries per event: the groups plus the screens and apps watching its restaurant. */
  subscribersPerEvent: number;
  /** Bytes per stored record (envelope, key, headers, batch overhead). */
  recordBytes: number;
  /** Days the topic keeps records. */
  retentionDays: number;
  /** Kafka replication factor. */
  replicationFactor: number;
  /** Share of a measured maximum a component is planned to run at. */
  utilisation: number;
  /** Events/s one partition is planned to carry (ordering per key, consumer parallelism). */
  eventsPerPartition: number;
  /** Resident memory of an idle gateway process, in MB. */
  baseMemoryMb: number;
  /** Subscriptions one gateway process is planned to hold. */
  connectionsPerGateway: number;
}

/** One line of the plan: a quantity, its value and how it was computed. */
export interface PlanLine {
  what: string;
  value: number;
  formula: string;
}

const SECONDS_PER_DAY = 86_400;
const SECONDS_PER_HOUR = 3_600;
const MB = 1024 * 1024;
const GB = 1024 * MB;

/** The plan of `scenario` from `bench` figures and the `model`'s assumptions. */
export function plan(bench: BenchReport, model: Assumptions, scenario: Scenario): PlanLine[] {
  const a = model;
  const perProcess = bench.publish.kafka?.["c=64"]?.rate ?? bench.publish.embedded["c=64"].rate;
  const average = scenario.visitsPerDay * a.identificationsPerVisit / SECONDS_PER_DAY;
  const peakHour = scenario.visitsPerDay * a.peakHourShare * a.identificationsPerVisit /
    SECONDS_PER_HOUR;
  const peak = peakHour * a.burstFactor;
  const publishGateways = Math.max(2, Math.ceil(peak / (perProcess * a.utilisation)) + 1);
  const partitions = Math.max(3, Math.ceil(peak / a.eventsPerPartition));
  const brokers = Math.max(
    3,
    Math.ceil(peak * a.replicationFactor / (bench.baselines.kafkaRaw * a.utilisation)),
  );
  const diskGbPerBroker = average * SECONDS_PER_DAY * a.retentionDays * a.recordBytes *
    a.replicationFactor / brokers / GB;
  const seated = scenario.visitsPerDay * a.peakHourShare * a.visitHours;
  const clients = scenario.restaurants * a.screensPerRestaurant + seated * a.appShare;
  const connectionGateways = Math.ceil(clients / a.connectionsPerGateway) + 1;
  const deliveries = peak * a.subscribersPerEvent;
  const fanOutGateways = Math.ceil(
    deliveries / (bench.subscriptions.fanOutDeliveriesPerSecond * a.utilisation),
  ) + 1;
  const gateways = Math.max(publishGateways, connectionGateways, fanOutGateways);
  const connections = clients + a.serviceGroups * gateways;
  const perGateway = connections / (gateways - 1);
  const memoryMb = a.baseMemoryMb + perGateway * bench.subscriptions.bytesPerConnection / MB;
  return [
    {
      what: "events/s, day average",
      value: average,
      formula: "visits/day x identifications/visit / 86,400",
    },
    {
      what: "events/s, peak second",
      value: peak,
      formula: "visits/day x peak-hour share x identifications/visit / 3,600 x burst factor",
    },
    {
      what: "partitions of customer-events",
      value: partitions,
      formula: "max(3, peak / events per partition)",
    },
    {
      what: "gateways needed to publish",
      value: publishGateways,
      formula: "max(2, peak / (publish c=64 per process x utilisation) + 1 spare)",
    },
    {
      what: "gateways needed to fan out",
      value: fanOutGateways,
      formula: "peak x subscribers per event / (fan-out deliveries/s x utilisation) + 1 spare",
    },
    {
      what: "gateways needed to hold the connections",
      value: connectionGateways,
      formula: "(restaurants x screens + seated guests x app share) / connections per gateway + 1",
    },
    {
      what: "gateway processes",
      value: gateways,
      formula: "the largest of the three above",
    },
    {
      what: "Kafka brokers",
      value: brokers,
      formula: "max(3, peak x replication / (raw producer msg/s x utilisation))",
    },
    {
      what: "Kafka disk per broker, GB",
      value: diskGbPerBroker,
      formula: "average x 86,400 x retention days x record bytes x replication / brokers",
    },
    {
      what: "NATS messages/s (one per event; fan-out is in the gateways)",
      value: peak,
      formula: "peak events/s (3-node NATS cluster for availability)",
    },
    {
      what: "subscriptions open at the peak",
      value: connections,
      formula: "restaurants x screens + seated guests x app share + groups x gateways",
    },
    {
      what: "connections per gateway (one process down)",
      value: perGateway,
      formula: "subscriptions / (gateways - 1)",
    },
    {
      what: "memory per gateway, MB",
      value: memoryMb,
      formula: "idle process MB + connections per gateway x bytes per idle connection",
    },
  ];
}

/** The plan of every scenario as a Markdown table. */
export function planTable(bench: BenchReport, model: Assumptions): string {
  const plans = model.scenarios.map((s) => plan(bench, model, s));
  const round = (n: number) =>
    n >= 100 ? Math.ceil(n).toLocaleString("en-US") : n.toLocaleString("en-US", {
      maximumFractionDigits: 1,
    });
  const header = `| quantity | ${model.scenarios.map((s) => s.name).join(" | ")} | formula |`;
  const rule = `| --- | ${model.scenarios.map(() => "--:").join(" | ")} | --- |`;
  const rows = plans[0].map((line, i) =>
    `| ${line.what} | ${plans.map((p) => round(p[i].value)).join(" | ")} | ${line.formula} |`
  );
  return [header, rule, ...rows].join("\n");
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      bench: { type: "string", default: "docs/capacity_bench.json" },
      assumptions: { type: "string", default: "docs/capacity_assumptions.json" },
      json: { type: "boolean", default: false },
    },
  });
  const bench: BenchReport = JSON.parse(await Deno.readTextFile(values.bench));
  const model: Assumptions = JSON.parse(await Deno.readTextFile(values.assumptions));
  if (values.json) {
    const out = Object.fromEntries(model.scenarios.map((s) => [s.name, plan(bench, model, s)]));
    console.log(JSON.stringify(out, null, 2));
  } else {
    const kafka = bench.publish.kafka?.["c=64"]?.rate;
    console.log(
      `From ${values.bench}: ${bench.cores} cores; publish c=64 per process ${
        Math.round(kafka ?? bench.publish.embedded["c=64"].rate)
      } events/s (${kafka ? "kafka" : "embedded"}); raw producer ${
        Math.round(bench.baselines.kafkaRaw)
      } msg/s; fan-out ${Math.round(bench.subscriptions.fanOutDeliveriesPerSecond)} deliveries/s; ${
        (bench.subscriptions.bytesPerConnection / 1024).toFixed(1)
      } KiB per idle connection.\n`,
    );
    console.log(planTable(bench, model));
  }
}

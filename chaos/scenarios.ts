/**
 * The faults of the chaos suite. Each injects its fault, resolves once the
 * fault is fully in effect, and hands back how to undo it. Brokers that lead
 * partitions are chosen among those that are not the active controller, so a
 * leader kill and a controller kill are different faults.
 *
 * @module
 */
import type { Cluster } from "../testing/cluster.ts";
import type { GatewayHandle } from "./gateways.ts";

/** What a fault can act on. */
export interface FaultContext {
  cluster: Cluster;
  /** The round's topic. */
  topic: string;
  /** Round number, from 1: picks among equivalent targets so rounds vary. */
  round: number;
  gateways: GatewayHandle[];
  log: (message: string) => void;
  /** Marks the start of the fault: called right before the first action, after choosing targets. */
  begin(): void;
}

/** A fault in effect. */
export interface Fault {
  /** What was done, e.g. `kill -9 node 2`. */
  what: string;
  /** Undoes the fault: restarts, thaws, ... */
  restore(): Promise<void>;
}

/** A kind of fault. */
export interface Scenario {
  name: string;
  /** How long the fault holds before it is undone, in ms. */
  holdMs: number;
  /** A partition leader dies: the gap target (<= 1 s) applies. */
  leaderKill: boolean;
  /** Below min ISR: nothing may be acknowledged while the fault holds. */
  expectNoAcks: boolean;
  /** Starts the fault; resolves once it is fully in effect. */
  inject(ctx: FaultContext): Promise<Fault>;
}

/** A node that leads partitions of the topic and is not the active controller. */
async function leaderNotController(ctx: FaultContext): Promise<number> {
  const [layout, controller] = await Promise.all([
    ctx.cluster.layout(ctx.topic),
    ctx.cluster.controller(),
  ]);
  const leaders = [...new Set(layout.map((p) => p.leader))].sort();
  const candidates = leaders.filter((n) => n !== controller);
  const pool = candidates.length > 0 ? candidates : leaders;
  return pool[ctx.round % pool.length];
}

function restartNode(ctx: FaultContext, ...nodes: number[]): () => Promise<void> {
  return async () => {
    for (const n of nodes) await ctx.cluster.startNode(n);
  };
}

/** The default hold of a fault, in ms. */
export const DEFAULT_HOLD_MS = 10_000;
/** How long a hung broker stays frozen, in ms. */
export const HUNG_HOLD_MS = 20_000;

/** Every scenario, in the order the suite runs them. */
export function scenarios(holdMs = DEFAULT_HOLD_MS, hungMs = HUNG_HOLD_MS): Scenario[] {
  return [
    {
      name: "leader-kill",
      holdMs,
      leaderKill: true,
      expectNoAcks: false,
      async inject(ctx) {
        const node = await leaderNotController(ctx);
        ctx.begin();
        await ctx.cluster.kill9(node);
        return { what: `kill -9 node ${node} (a leader)`, restore: restartNode(ctx, node) };
      },
    },
    {
      name: "leader-sigterm",
      holdMs,
      leaderKill: false,
      expectNoAcks: false,
      async inject(ctx) {
        const node = await leaderNotController(ctx);
        ctx.begin();
        await ctx.cluster.terminate(node);
        return { what: `SIGTERM node ${node} (a leader)`, restore: restartNode(ctx, node) };
      },
    },
    {
      name: "controller-kill",
      holdMs,
      leaderKill: false,
      expectNoAcks: false,
      async inject(ctx) {
        const node = await ctx.cluster.controller();
        ctx.begin();
        await ctx.cluster.kill9(node);
        return {
          what: `kill -9 node ${node} (active controller)`,
          restore: restartNode(ctx, node),
        };
      },
    },
    {
      name: "hung-broker",
      holdMs: hungMs,
      leaderKill: false,
      expectNoAcks: false,
      async inject(ctx) {
        const node = await leaderNotController(ctx);
        ctx.begin();
        await ctx.cluster.freeze(node);
        return {
          what: `SIGSTOP node ${node} (a leader)`,
          restore: () => ctx.cluster.thaw(node),
        };
      },
    },
    {
      name: "two-brokers-down",
      holdMs,
      leaderKill: false,
      expectNoAcks: true,
      async inject(ctx) {
        // Controlled shutdowns while the controller quorum still has a majority: the
        // controller shrinks each ISR to the one node left, below min.insync.replicas.
        const controller = await ctx.cluster.controller();
        const others = [1, 2, 3].filter((n) => n !== controller);
        ctx.begin();
        for (const n of others) await ctx.cluster.terminate(n);
        return {
          what: `SIGTERM nodes ${others.join(" and ")} (node ${controller} left)`,
          restore: restartNode(ctx, ...others),
        };
      },
    },
    {
      name: "gateway-kill",
      holdMs: Math.min(holdMs, 5000),
      leaderKill: false,
      expectNoAcks: false,
      async inject(ctx) {
        const gateway = ctx.gateways[(ctx.round + 1) % ctx.gateways.length];
        ctx.begin();
        await gateway.kill9();
        return {
          what: `kill -9 gateway ${gateway.index}`,
          restore: () => gateway.start(),
        };
      },
    },
    {
      name: "nats-stop",
      holdMs,
      leaderKill: false,
      expectNoAcks: false,
      async inject(ctx) {
        ctx.begin();
        await ctx.cluster.stopNats();
        return { what: "stop nats-server", restore: () => ctx.cluster.startNats() };
      },
    },
  ];
}

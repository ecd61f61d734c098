/**
 * Compares two V8 heap snapshots (`deno task soak --snapshots DIR` writes one
 * at the end of the warm-up and one at the end): live objects and bytes per
 * constructor in each, and the constructors that grew most in between.
 *
 * ```sh
 * deno run -A bench/heap_diff.ts before.heapsnapshot after.heapsnapshot [--top 25]
 * ```
 *
 * @module
 */
import { parseArgs } from "node:util";

/** Objects and their own bytes, by `type:name` of the snapshot's nodes. */
type Census = Map<string, { count: number; bytes: number }>;

interface Snapshot {
  snapshot: { meta: { node_fields: string[]; node_types: [string[]] } };
  nodes: number[];
  strings: string[];
}

/** Counts a snapshot's nodes by type and constructor name. */
export function census(snapshot: Snapshot): Census {
  const fields = snapshot.snapshot.meta.node_fields;
  const width = fields.length;
  const typeAt = fields.indexOf("type");
  const nameAt = fields.indexOf("name");
  const sizeAt = fields.indexOf("self_size");
  const types = snapshot.snapshot.meta.node_types[0];
  const out: Census = new Map();
  const { nodes, strings } = snapshot;
  for (let i = 0; i < nodes.length; i += width) {
    const type = types[nodes[i + typeAt]];
    // Strings and code are named by their content: group them by type alone.
    const name = type === "object" || type === "closure" || type === "native"
      ? strings[nodes[i + nameAt]]
      : "";
    const key = `${type}:${name}`;
    const entry = out.get(key) ?? { count: 0, bytes: 0 };
    entry.count++;
    entry.bytes += nodes[i + sizeAt];
    out.set(key, entry);
  }
  return out;
}

if (import.meta.main) {
  const { values, positionals } = parseArgs({
    args: Deno.args,
    options: { top: { type: "string", default: "25" } },
    allowPositionals: true,
  });
  if (positionals.length !== 2) {
    console.error("usage: heap_diff.ts BEFORE.heapsnapshot AFTER.heapsnapshot [--top N]");
    Deno.exit(2);
  }
  const [before, after] = await Promise.all(
    positionals.map(async (path) => census(JSON.parse(await Deno.readTextFile(path)))),
  );
  const total = (c: Census) =>
    [...c.values()].reduce((t, e) => ({ count: t.count + e.count, bytes: t.bytes + e.bytes }), {
      count: 0,
      bytes: 0,
    });
  const [tb, ta] = [total(before), total(after)];
  console.log(
    `objects ${tb.count} -> ${ta.count}, bytes ${(tb.bytes / 1e6).toFixed(1)} -> ${
      (ta.bytes / 1e6).toFixed(1)
    } MB`,
  );
  const rows = [...new Set([...before.keys(), ...after.keys()])].map((key) => {
    const b = before.get(key) ?? { count: 0, bytes: 0 };
    const a = after.get(key) ?? { count: 0, bytes: 0 };
    return { key, count: a.count - b.count, bytes: a.bytes - b.bytes, now: a };
  }).sort((x, y) => y.bytes - x.bytes || y.now.bytes - x.now.bytes).slice(0, Number(values.top));
  console.log("| type:constructor | objects added | bytes added | objects now | bytes now |");
  console.log("|---|---:|---:|---:|---:|");
  for (const r of rows) {
    console.log(`| ${r.key} | ${r.count} | ${r.bytes} | ${r.now.count} | ${r.now.bytes} |`);
  }
}

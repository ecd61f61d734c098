/**
 * `deno task bundle`: `deno bundle` of main.ts into one JavaScript file, the
 * embedded log's writer worker into a second one next to it
 * (`writer_worker.js`, which the gateway starts as a Worker), plus the one
 * asset the bundle cannot inline. `@platformatic/kafka` computes
 * CRC32C (and LZ4/Snappy) with `@platformatic/wasm-utils`, which reads its
 * `native.wasm` from `../dist/native.wasm` relative to the importing module:
 * after bundling, relative to the bundle. This copies it there. (`deno
 * compile` embeds npm packages whole and needs nothing of this.)
 *
 * Usage: deno run -A deploy/bundle.ts [out=dist/gateway.js]
 *
 * @module
 */
import { dirname, join, resolve } from "node:path";

/** The npm package and version whose wasm the bundle needs; kept in step with deno.lock. */
const WASM_PACKAGE = "@platformatic/wasm-utils";

const out = resolve(Deno.args[0] ?? "dist/gateway.js");
const root = new URL("..", import.meta.url).pathname;

/** The embedded log's writer, started as a Worker from beside the bundle. */
const WORKER_ENTRY = "src/log/embedded/writer_worker.ts";

for (
  const [entry, file] of [["main.ts", out], [WORKER_ENTRY, join(dirname(out), "writer_worker.js")]]
) {
  const bundled = await new Deno.Command(Deno.execPath(), {
    args: ["bundle", "--frozen", "--platform", "deno", "--quiet", "-o", file, entry],
    cwd: root,
    stdout: "inherit",
    stderr: "inherit",
  }).output();
  if (!bundled.success) Deno.exit(bundled.code);
}

const lock = JSON.parse(await Deno.readTextFile(join(root, "deno.lock")));
const version = Object.keys(lock.npm ?? {}).find((k) => k.startsWith(`${WASM_PACKAGE}@`))
  ?.split("@").at(-1);
if (!version) throw new Error(`${WASM_PACKAGE} is not in deno.lock`);
const info = await new Deno.Command(Deno.execPath(), { args: ["info", "--json"] }).output();
const { npmCache } = JSON.parse(new TextDecoder().decode(info.stdout));
const wasm = join(npmCache, "registry.npmjs.org", WASM_PACKAGE, version, "dist", "native.wasm");
const target = join(dirname(out), "..", "dist", "native.wasm");
await Deno.mkdir(dirname(target), { recursive: true });
await Deno.copyFile(wasm, target);

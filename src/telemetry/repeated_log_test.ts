import assert from "node:assert/strict";
import { jsonLogger, RepeatedLog } from "./logger.ts";

Deno.test("RepeatedLog logs a key once per interval and counts what it left out", async () => {
  const lines: Record<string, unknown>[] = [];
  const log = new RepeatedLog(
    jsonLogger("info", (l) => lines.push(JSON.parse(l))),
    "warn",
    "m",
    30,
  );
  for (let i = 0; i < 5; i++) log.log("a", { i });
  log.log("b", { i: 9 });
  await new Promise((r) => setTimeout(r, 40));
  log.log("a", { i: 5 });
  assert.deepEqual(lines.map(({ msg, i, suppressed }) => ({ msg, i, suppressed })), [
    { msg: "m", i: 0, suppressed: undefined },
    { msg: "m", i: 9, suppressed: undefined },
    { msg: "m", i: 5, suppressed: 4 },
  ]);
});

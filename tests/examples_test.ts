/** The examples in `examples/` work against a running gateway, as their comments say. */
import assert from "node:assert/strict";
import { identification, startGateway, waitUntil } from "../testing/harness.ts";

const ROOT = new URL("..", import.meta.url).pathname;

/** Runs `command` and collects its stdout lines until `stop` is called. */
function collect(command: Deno.Command) {
  const child = command.spawn();
  const lines: string[] = [];
  const reading = (async () => {
    let buffer = "";
    for await (const chunk of child.stdout.pipeThrough(new TextDecoderStream())) {
      buffer += chunk;
      const parts = buffer.split("\n");
      buffer = parts.pop()!;
      lines.push(...parts);
    }
  })();
  return {
    lines,
    async stop() {
      child.kill();
      await child.status;
      await reading;
    },
  };
}

Deno.test("examples: the notification service prints each arrival; the SSE script streams it", async () => {
  const gateway = await startGateway({ TASTESYNC_DATA_DIR: await Deno.makeTempDir() });
  const service = collect(
    new Deno.Command(Deno.execPath(), {
      args: ["run", "--allow-net", `${ROOT}examples/notification_service.ts`, gateway.url],
      stdout: "piped",
      stderr: "piped",
    }),
  );
  try {
    // The service reads from the end of the log: publish once it says it has subscribed.
    await waitUntil(
      () => service.lines.includes("notification service: subscribed"),
      "the service subscribed",
    );
    const res = await gateway.post("/v1/identifications", identification());
    assert.equal(res.status, 202);
    await res.body?.cancel();
    await waitUntil(
      () => service.lines.some((l) => l === "customer cust123 arrived at Table 3"),
      "the arrival line",
    );

    const sse = collect(
      new Deno.Command("sh", { args: [`${ROOT}examples/sse.sh`, gateway.url], stdout: "piped" }),
    );
    try {
      await waitUntil(
        () => sse.lines.some((l) => l.startsWith("data: ") && l.includes('"cust123"')),
        "an SSE data line",
      );
      assert.ok(sse.lines.some((l) => l === "event: CustomerIdentified"));
      assert.ok(sse.lines.some((l) => l.startsWith("id: ")));
    } finally {
      await sse.stop();
    }
  } finally {
    await service.stop();
    await gateway.stop();
  }
});

/** Baseline: the smallest Deno.serve server, on the port given as the first argument. */
Deno.serve({
  hostname: "127.0.0.1",
  port: Number(Deno.args[0]),
  onListen: () => console.error("listening"),
}, () => new Response("hello"));

/**
 * The source design's notification service as a small subscriber: joins the
 * `notifications` consumer group over a WebSocket (the platform's standard
 * client, nothing else), prints "customer cust123 arrived at Table 3" for each
 * identification, acks it, and reconnects after a drop. Run several copies to
 * share the work; stop one and the others take over its unacked events.
 *
 *   deno run --allow-net examples/notification_service.ts [http://localhost:8080]
 */
const base = (Deno.args[0] ?? "http://localhost:8080").replace(/^http/, "ws");
const url =
  `${base}/v1/subscribe?group=notifications&event_type=CustomerIdentified&min_confidence=0.8`;

function connect(): void {
  const socket = new WebSocket(url);
  socket.onmessage = (message) => {
    const frame = JSON.parse(message.data);
    if (frame.type === "ready") console.log("notification service: subscribed");
    if (frame.type === "error") {
      console.error(`notification service: ${frame.error}: ${frame.detail}`);
    }
    if (frame.type !== "event") return;
    const { customer_id, location } = frame.event.data;
    console.log(`customer ${customer_id} arrived at ${location}`);
    socket.send(JSON.stringify({ type: "ack", cursor: frame.cursor }));
  };
  socket.onclose = (event) => {
    console.error(`notification service: disconnected (${event.code}); reconnecting in 1 s`);
    setTimeout(connect, 1000);
  };
}

connect();

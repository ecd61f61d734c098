/**
 * The gateway on secured brokers (`deploy/local/services.sh --secure`, started
 * here when they are not running and stopped again): HTTPS in; Kafka over
 * SASL_SSL with SCRAM-SHA-512 and NATS over TLS with a password or a
 * credentials file out, checked with independent clients. Wrong passwords are
 * refused with a clear error, and no secret reaches the log.
 */
import assert from "node:assert/strict";
import {
  type GatewayProcess,
  identification,
  readTopic,
  startGateway,
  subscribeSse,
  uniqueTopic,
  waitReady,
  waitUntil,
} from "../testing/harness.ts";
import { SecuredServices } from "../testing/secured_services.ts";

/** A gateway serving HTTPS, and its `https://` URL. */
interface HttpsGateway {
  gateway: GatewayProcess;
  url: string;
}

/** Starts a gateway with `env`; waits until `/readyz` says `ready` unless `ready` is false. */
async function startHttps(
  env: Record<string, string>,
  client: Deno.HttpClient,
  ready = true,
): Promise<HttpsGateway> {
  const gateway = await startGateway(env, { ready: false });
  const url = gateway.url.replace(/^http:/, "https:");
  if (ready) await waitReady(url, "ready", 30_000, client);
  return { gateway, url };
}

/** Posts an identification to the gateway at `url`. */
function publish(url: string, client: Deno.HttpClient): Promise<Response> {
  return fetch(`${url}/v1/identifications`, {
    method: "POST",
    client,
    headers: { "content-type": "application/json" },
    body: JSON.stringify(identification()),
  });
}

/** Collects the messages NATS delivers under `prefix`, as an independent subscriber. */
async function mirrorOf(secured: SecuredServices, prefix: string) {
  const nc = await secured.nats();
  const ids: string[] = [];
  nc.subscribe(`${prefix}.>`, {
    callback: (_, msg) => {
      ids.push(msg.json<{ event_id: string }>().event_id);
    },
  });
  await nc.flush();
  return { ids, close: () => nc.close() };
}

/** Asserts that no line of `lines` contains any of `secrets`. */
function assertNothingLeaked(lines: string[], secrets: string[]): void {
  for (const secret of secrets) {
    const leak = lines.find((line) => line.includes(secret));
    assert.equal(leak, undefined, `a secret is in the log: ${leak}`);
  }
}

Deno.test({
  name: "secured brokers: HTTPS, Kafka over SASL_SSL/SCRAM-SHA-512, NATS over TLS with logins",
  async fn(t) {
    const secured = await SecuredServices.start();
    const client = secured.httpClient();
    const seed = Deno.readTextFileSync(secured.env.NATS_CREDS_FILE).match(/^SU[A-Z2-7]+$/m)![0];
    const secrets = [
      secured.secret("KAFKA_SASL_PASSWORD_FILE"),
      secured.secret("NATS_PASSWORD_FILE"),
      seed,
    ];
    try {
      await t.step(
        "publish over HTTPS; read back by others and through the gateway (Kafka, a group, NATS)",
        async () => {
          const topic = uniqueTopic("sec");
          const env = secured.gatewayEnv(topic);
          const { gateway, url } = await startHttps(env, client);
          const mirror = await mirrorOf(secured, env.TASTESYNC_NATS_SUBJECT_PREFIX);
          try {
            assert.equal(
              JSON.parse(gateway.lines.find((l) => l.includes("Gateway listening"))!).tls,
              true,
            );
            await assert.rejects(fetch(`${gateway.url}/readyz`), "plain HTTP is not served");
            const durable = await subscribeSse(url, "", {}, client);
            const live = await subscribeSse(url, "mode=live", {}, client);
            const grouped = await subscribeSse(url, `group=${topic}`, {}, client);
            const res = await publish(url, client);
            const ack = await res.json();
            assert.equal(res.status, 202, JSON.stringify(ack));

            const [record] = await readTopic(topic, (m) => m.length >= 1, 30_000, secured.kafka());
            assert.equal(JSON.parse(record.value!.toString()).event_id, ack.event_id);
            assert.equal(record.partition, ack.partition);
            assert.equal(record.offset, ack.offset);
            await waitUntil(() => mirror.ids.length > 0, "the event on NATS");
            assert.deepEqual(mirror.ids, [ack.event_id]);
            const [fromKafka] = await durable.events(1);
            const [fromNats] = await live.events(1);
            const [fromGroup] = await grouped.events(1);
            assert.equal(fromKafka.data.event_id, ack.event_id);
            assert.equal(fromNats.data.event_id, ack.event_id);
            assert.equal(fromGroup.data.event_id, ack.event_id);
            await Promise.all([durable.close(), live.close(), grouped.close()]);
          } finally {
            await mirror.close();
            await gateway.stop();
          }
          assertNothingLeaked(gateway.lines, secrets);
        },
      );

      await t.step("NATS with a credentials file", async () => {
        const env = secured.gatewayEnv(uniqueTopic("sec"), "creds");
        const { gateway, url } = await startHttps(env, client);
        const mirror = await mirrorOf(secured, env.TASTESYNC_NATS_SUBJECT_PREFIX);
        try {
          const res = await publish(url, client);
          const ack = await res.json();
          assert.equal(res.status, 202, JSON.stringify(ack));
          await waitUntil(() => mirror.ids.length > 0, "the event on NATS");
          assert.deepEqual(mirror.ids, [ack.event_id]);
        } finally {
          await mirror.close();
          await gateway.stop();
        }
        assertNothingLeaked(gateway.lines, secrets);
      });

      await t.step("wrong passwords are refused, each with a clear error", async () => {
        const wrong = await Deno.makeTempFile({ prefix: "tastesync-wrong-" });
        await Deno.writeTextFile(wrong, "not-the-password\n");
        const { gateway, url } = await startHttps(
          {
            ...secured.gatewayEnv(uniqueTopic("sec")),
            TASTESYNC_KAFKA_SASL_PASSWORD_FILE: wrong,
            TASTESYNC_NATS_PASSWORD_FILE: wrong,
          },
          client,
          false,
        );
        const logged = (msg: string) =>
          gateway.lines.map((l) => JSON.parse(l)).find((l) => l.msg === msg);
        try {
          await waitUntil(
            () =>
              logged("Kafka refused the SASL login; retrying") !== undefined &&
              logged("NATS refused the login; retrying in the background") !== undefined,
            "both refusals are logged",
            30_000,
          );
          const kafka = logged("Kafka refused the SASL login; retrying");
          assert.equal(kafka.level, "error");
          assert.match(kafka.reason, /invalid credentials with SASL mechanism SCRAM-SHA-512/);
          const nats = logged("NATS refused the login; retrying in the background");
          assert.equal(nats.level, "error");
          assert.match(nats.error, /Authorization Violation/);

          const ready = await fetch(`${url}/readyz`, { client });
          assert.equal(ready.status, 503);
          assert.deepEqual((await ready.json()).components, {
            log: { backend: "kafka", status: "down" },
            bus: { backend: "nats", status: "down" },
          });
          const res = await publish(url, client);
          assert.equal(res.status, 503);
          await res.body?.cancel();
        } finally {
          await gateway.stop();
          await Deno.remove(wrong);
        }
        assertNothingLeaked(gateway.lines, [...secrets, "not-the-password"]);
      });
    } finally {
      client.close();
      await secured.stop();
    }
  },
});

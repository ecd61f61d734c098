/**
 * The durable-log backends end-to-end subscription tests run on: the embedded
 * log, and a real Kafka broker with the live lane on a real nats-server.
 *
 * @module
 */
import { KAFKA_BROKERS, NATS_URL, uniqueTopic } from "./harness.ts";

/** A backend: its name, and the environment of a gateway on a fresh log. */
export interface Backend {
  /** `embedded` or `kafka`. */
  name: string;
  /** Environment variables of a gateway on a fresh data folder or topic. */
  env: () => Promise<Record<string, string>>;
}

/** The embedded log (no broker needed), then Kafka with NATS. */
export const BACKENDS: readonly Backend[] = [
  {
    name: "embedded",
    env: async () => ({ TASTESYNC_DATA_DIR: await Deno.makeTempDir({ prefix: "tastesync-sub-" }) }),
  },
  {
    name: "kafka",
    env: () => {
      const topic = uniqueTopic("sub");
      return Promise.resolve({
        TASTESYNC_KAFKA_BROKERS: KAFKA_BROKERS,
        TASTESYNC_KAFKA_TOPIC: topic,
        TASTESYNC_NATS_URL: NATS_URL,
        TASTESYNC_NATS_SUBJECT_PREFIX: `it.${topic.replaceAll("-", "_")}`,
      });
    },
  },
];

/**
 * The committed messages of kafkajs batches. kafkajs 2.2.4 lets records of
 * some aborted transactions through in read_committed mode: its
 * `filterAbortedMessages` moves to the next aborted transaction at most once
 * per message, so with two aborted transactions starting before one message
 * (two producers, interleaved) the second one's records pass. The chaos suite
 * found that as "duplicates" that Kafka's own DumpLogSegments showed to be
 * aborted. This filter does what Kafka's Java consumer does, from the
 * records and markers themselves: a transaction's records are held until its
 * marker, then handed over (commit) or dropped (abort).
 *
 * @module
 */
import type { Batch, KafkaMessage } from "kafkajs";

/** A control record's key: version 0, type 1 (commit); type 0 is abort. */
const COMMIT_KEY = [0, 0, 0, 1];

type RawMessage = KafkaMessage & {
  isControlRecord?: boolean;
  batchContext: { producerId: string; inTransaction: boolean };
};

/** Filters the batches of one reader; keep one per consumer. */
export class CommittedMessages {
  /** Records of transactions whose marker has not been read yet, by partition and producer. */
  readonly #open = new Map<string, KafkaMessage[]>();

  /** The committed messages that `batch` completes, in offset order per transaction. */
  take(batch: Batch): KafkaMessage[] {
    const raw = (batch as unknown as { messagesWithinOffset: RawMessage[] }).messagesWithinOffset;
    const out: KafkaMessage[] = [];
    for (const message of raw) {
      const { producerId, inTransaction } = message.batchContext;
      if (!inTransaction) {
        if (!message.isControlRecord) out.push(message);
        continue;
      }
      const key = `${batch.partition}:${producerId}`;
      if (message.isControlRecord) {
        const held = this.#open.get(key) ?? [];
        this.#open.delete(key);
        const type = [...(message.key ?? [])];
        if (COMMIT_KEY.every((b, i) => type[i] === b)) out.push(...held);
        continue;
      }
      const held = this.#open.get(key) ?? [];
      held.push(message);
      this.#open.set(key, held);
    }
    return out;
  }
}

/**
 * Kafka's read_committed rule for the record batches of one fetched
 * partition: the broker serves committed records only up to the last stable
 * offset, but leaves it to the reader to skip control batches (transaction
 * markers) and the batches of the aborted transactions it lists.
 *
 * @module
 */
import { IS_CONTROL, IS_TRANSACTIONAL } from "@platformatic/kafka";

/** A transaction the broker reports aborted: its producer, and its first offset. */
export interface AbortedTransaction {
  /** Producer id. */
  producerId: bigint;
  /** First offset of the aborted transaction. */
  firstOffset: bigint;
}

/** Tells which batches of one fetched partition a read_committed reader skips. */
export class AbortedFilter {
  /** Aborted transactions not reached yet, by first offset. */
  readonly #ahead: AbortedTransaction[];
  /** Producers inside an aborted transaction at the current batch. */
  readonly #aborting = new Set<bigint>();

  /** A filter for a fetch answer that listed `aborted`. */
  constructor(aborted: readonly AbortedTransaction[] | null | undefined) {
    this.#ahead = [...aborted ?? []].sort((a, b) =>
      a.firstOffset < b.firstOffset ? -1 : a.firstOffset > b.firstOffset ? 1 : 0
    );
  }

  /**
   * Whether to skip the batch of `producerId` with `attributes` whose last
   * offset is `lastOffset`. Ask for every batch, in offset order.
   */
  skip(attributes: number, producerId: bigint, lastOffset: bigint): boolean {
    while (this.#ahead.length > 0 && this.#ahead[0].firstOffset <= lastOffset) {
      this.#aborting.add(this.#ahead.shift()!.producerId);
    }
    if (attributes & IS_CONTROL) {
      // The marker that ends an aborted transaction: its producer's later batches count again.
      this.#aborting.delete(producerId);
      return true;
    }
    return (attributes & IS_TRANSACTIONAL) !== 0 && this.#aborting.has(producerId);
  }
}

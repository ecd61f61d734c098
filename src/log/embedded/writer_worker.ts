/**
 * Worker entry of the embedded log's writer ({@linkcode EmbeddedWriter}):
 * the main thread posts batches, this worker commits them and answers with
 * each record's outcome, and prunes expired event ids between batches.
 * `deploy/bundle.ts` bundles it next to the gateway, and `deno task
 * compile` includes it.
 *
 * @module
 */
import {
  EmbeddedWriter,
  type WriteOutcome,
  type WriteRecord,
  type WriterOptions,
} from "./writer.ts";

/** Interval between two prunes of expired event ids, in ms. */
const PRUNE_INTERVAL_MS = 60_000;

/** A message to the writer. */
export type ToWriter =
  | { kind: "open"; options: WriterOptions }
  | { kind: "write"; records: WriteRecord[] }
  | { kind: "close" };

/**
 * A message from the writer; `written` and `failed` answer the writes in the
 * order they came, `broken` says it could not open the database.
 */
export type FromWriter =
  | { kind: "opened" }
  | { kind: "broken"; message: string }
  | { kind: "written"; outcomes: WriteOutcome[] }
  | { kind: "failed"; message: string }
  | { kind: "closed" };

interface WorkerScope {
  onmessage: ((event: MessageEvent<ToWriter>) => void) | null;
  postMessage(message: FromWriter): void;
  close(): void;
}

const scope = globalThis as unknown as WorkerScope;
let writer: EmbeddedWriter | undefined;
let pruneTimer: ReturnType<typeof setTimeout> | undefined;

/** Prunes a batch of expired ids; the next batch runs after the writes waiting meanwhile. */
function prune(): void {
  if (!writer) return;
  const more = writer.prune();
  pruneTimer = setTimeout(prune, more ? 0 : PRUNE_INTERVAL_MS);
}

scope.onmessage = ({ data }) => {
  switch (data.kind) {
    case "open":
      try {
        writer = new EmbeddedWriter(data.options);
      } catch (error) {
        scope.postMessage({ kind: "broken", message: String(error) });
        return;
      }
      scope.postMessage({ kind: "opened" });
      prune();
      return;
    case "write":
      if (!writer) {
        scope.postMessage({ kind: "failed", message: "The embedded log's writer is not open" });
        return;
      }
      try {
        scope.postMessage({ kind: "written", outcomes: writer.write(data.records) });
      } catch (error) {
        scope.postMessage({ kind: "failed", message: String(error) });
      }
      return;
    case "close":
      clearTimeout(pruneTimer);
      writer?.close();
      writer = undefined;
      scope.postMessage({ kind: "closed" });
      scope.close();
  }
};

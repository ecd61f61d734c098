/**
 * A minimal client of the V8 inspector (Chrome DevTools Protocol) of a Deno
 * process started with `--inspect=HOST:PORT`: enough to collect garbage and
 * read the live heap, or take a heap snapshot, so a soak can tell memory
 * that stays from memory the collector has not reclaimed yet.
 *
 * @module
 */

/** One DevTools Protocol session with a process's inspector. */
export class Inspector {
  readonly #socket: WebSocket;
  readonly #pending = new Map<number, PromiseWithResolvers<Record<string, unknown>>>();
  readonly #listeners = new Map<string, (params: Record<string, unknown>) => void>();
  #next = 1;

  private constructor(socket: WebSocket) {
    this.#socket = socket;
    socket.onmessage = (e) => {
      const message = JSON.parse(e.data);
      if (message.id === undefined) {
        this.#listeners.get(message.method)?.(message.params);
        return;
      }
      const pending = this.#pending.get(message.id);
      this.#pending.delete(message.id);
      if (message.error) pending?.reject(new Error(JSON.stringify(message.error)));
      else pending?.resolve(message.result ?? {});
    };
    socket.onclose = () => {
      for (const p of this.#pending.values()) p.reject(new Error("inspector closed"));
      this.#pending.clear();
    };
  }

  /** Connects to the first target of the inspector listening on `hostPort`. */
  static async connect(hostPort: string): Promise<Inspector> {
    const targets = await (await fetch(`http://${hostPort}/json/list`)).json();
    const socket = new WebSocket(targets[0].webSocketDebuggerUrl);
    const { promise, resolve, reject } = Promise.withResolvers<void>();
    socket.onopen = () => resolve();
    socket.onerror = () => reject(new Error(`cannot open the inspector at ${hostPort}`));
    await promise;
    return new Inspector(socket);
  }

  /** Sends `method` and resolves with its result. */
  call(method: string, params: Record<string, unknown> = {}): Promise<Record<string, unknown>> {
    const id = this.#next++;
    const pending = Promise.withResolvers<Record<string, unknown>>();
    this.#pending.set(id, pending);
    this.#socket.send(JSON.stringify({ id, method, params }));
    return pending.promise;
  }

  /** Collects garbage fully, then reads the bytes of live objects on the heap. */
  async liveHeapBytes(): Promise<number> {
    await this.call("HeapProfiler.collectGarbage");
    return Number((await this.call("Runtime.getHeapUsage")).usedSize);
  }

  /** `Deno.memoryUsage()` of the process: RSS, the heap, and the memory of its ArrayBuffers (`external`). */
  async memoryUsage(): Promise<Deno.MemoryUsage> {
    const answer = await this.call("Runtime.evaluate", {
      expression: "JSON.stringify(Deno.memoryUsage())",
      returnByValue: true,
    });
    return JSON.parse(String((answer.result as { value: unknown }).value));
  }

  /** Takes a heap snapshot (collects garbage first) and writes it to `path`. */
  async heapSnapshot(path: string): Promise<void> {
    const file = await Deno.open(path, { write: true, create: true, truncate: true });
    const encoder = new TextEncoder();
    let writing = Promise.resolve();
    this.#listeners.set("HeapProfiler.addHeapSnapshotChunk", (params) => {
      const chunk = encoder.encode(String(params.chunk));
      writing = writing.then(async () => {
        for (let at = 0; at < chunk.length;) at += await file.write(chunk.subarray(at));
      });
    });
    try {
      await this.call("HeapProfiler.takeHeapSnapshot", { reportProgress: false });
      await writing;
    } finally {
      this.#listeners.delete("HeapProfiler.addHeapSnapshotChunk");
      file.close();
    }
  }

  /** Ends the session. */
  close(): void {
    this.#socket.close();
  }
}

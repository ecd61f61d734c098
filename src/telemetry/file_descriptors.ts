/**
 * The process's file descriptors as Linux's `/proc/self` shows them: how many
 * are open and the soft limit on them. Elsewhere (no `/proc`, or no read
 * permission on it) neither is known.
 *
 * @module
 */

/** Where Linux exposes the current process (`fd/` and `limits`). */
export const PROC_SELF = "/proc/self";

/** The soft open-files limit in `/proc/self/limits`. */
const OPEN_FILES_LIMIT = /^Max open files\s+(\d+)/m;

/** Counts of this process's file descriptors. */
export interface FileDescriptors {
  /** Whether the counts can be read here. */
  readonly available: boolean;
  /**
   * Descriptors open now.
   *
   * @throws {Error} when they cannot be listed.
   */
  open(): Promise<number>;
  /**
   * The soft limit on open descriptors, or `undefined` when there is none.
   *
   * @throws {Error} when the limits cannot be read.
   */
  softLimit(): Promise<number | undefined>;
}

/** Whether `dir/fd` can be listed, without ever prompting for a read permission. */
function hasProcFs(dir: string): boolean {
  if (Deno.permissions.querySync({ name: "read", path: dir }).state !== "granted") return false;
  try {
    return Deno.statSync(`${dir}/fd`).isDirectory;
  } catch {
    return false;
  }
}

/** {@linkcode FileDescriptors} read from `procDir` (Linux's `/proc/self`). */
export class ProcFileDescriptors implements FileDescriptors {
  readonly available: boolean;
  readonly #dir: string;

  /** Descriptors of the process `procDir` describes. */
  constructor(procDir = PROC_SELF) {
    this.#dir = procDir;
    this.available = hasProcFs(procDir);
  }

  async open(): Promise<number> {
    let entries = 0;
    for await (const _ of Deno.readDir(`${this.#dir}/fd`)) entries++;
    // Listing the directory holds one descriptor open itself.
    return entries - 1;
  }

  async softLimit(): Promise<number | undefined> {
    const limit = OPEN_FILES_LIMIT.exec(await Deno.readTextFile(`${this.#dir}/limits`));
    return limit ? Number(limit[1]) : undefined;
  }
}

/**
 * Cursors: opaque to clients, self-contained for the gateway. A cursor holds
 * the next offset to read in each partition, so any gateway process can resume
 * from it.
 *
 * @module
 */

/** A decoded cursor: topic and the next offset per partition. */
export interface Cursor {
  /** Topic the offsets belong to. */
  topic: string;
  /** Next offset to read, by partition. */
  next: Map<number, bigint>;
}

/** Thrown for a cursor the gateway did not make. */
export class InvalidCursorError extends Error {
  /** A cursor error with an optional more precise `message`. */
  constructor(message = "The cursor is not one this gateway issued", options?: ErrorOptions) {
    super(message, options);
    this.name = "InvalidCursorError";
  }
}

const MAX_CURSOR_LENGTH = 4096;

/** Encodes a cursor as base64url JSON: `{"t": topic, "o": {"0": "12", ...}}`. */
export function encodeCursor(cursor: Cursor): string {
  const o: Record<string, string> = {};
  for (const [p, offset] of cursor.next) o[p] = offset.toString();
  const bytes = new TextEncoder().encode(JSON.stringify({ t: cursor.topic, o }));
  return btoa(String.fromCharCode(...bytes)).replaceAll("+", "-").replaceAll("/", "_").replace(
    /=+$/,
    "",
  );
}

/**
 * Decodes a cursor made by {@linkcode encodeCursor}.
 *
 * @throws {InvalidCursorError} for anything else.
 */
export function decodeCursor(text: string): Cursor {
  if (text.length === 0 || text.length > MAX_CURSOR_LENGTH || !/^[A-Za-z0-9_-]+$/.test(text)) {
    throw new InvalidCursorError();
  }
  let parsed: unknown;
  try {
    const binary = atob(text.replaceAll("-", "+").replaceAll("_", "/"));
    parsed = JSON.parse(new TextDecoder().decode(Uint8Array.from(binary, (c) => c.charCodeAt(0))));
  } catch (error) {
    throw new InvalidCursorError(undefined, { cause: error });
  }
  const { t, o } = (parsed ?? {}) as { t?: unknown; o?: unknown };
  if (typeof t !== "string" || typeof o !== "object" || o === null || Array.isArray(o)) {
    throw new InvalidCursorError();
  }
  const next = new Map<number, bigint>();
  for (const [p, offset] of Object.entries(o)) {
    if (!/^\d{1,6}$/.test(p) || typeof offset !== "string" || !/^\d{1,19}$/.test(offset)) {
      throw new InvalidCursorError();
    }
    next.set(Number(p), BigInt(offset));
  }
  return { topic: t, next };
}

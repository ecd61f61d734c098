/**
 * I-JSON (RFC 7493) checks that `JSON.parse` does not make: member names must
 * be unique within an object, and strings must not hold lone surrogates
 * (escaped as `\uD800`, they would not survive UTF-8 and would make a
 * partition key that no longer matches the stored field).
 *
 * @module
 */

/** What makes a parsed body fall short of I-JSON. */
export interface IJsonViolation {
  /** JSON pointer (RFC 6901) of the offending member or value. */
  pointer: string;
  /** What is wrong there. */
  detail: string;
}

const QUOTE = 34; // "
const BACKSLASH = 92;

function escapePointer(step: string | number): string {
  return "/" + String(step).replaceAll("~", "~0").replaceAll("/", "~1");
}

type Frame = { keys: Set<string>; name?: string; expectKey: boolean } | { index: number };

/** Index of the quote that closes the string opening at `start`. */
function stringEnd(text: string, start: number): number {
  let i = start + 1;
  for (;;) {
    const c = text.charCodeAt(i);
    if (c === QUOTE) return i;
    i += c === BACKSLASH ? 2 : 1;
  }
}

function pointerOf(stack: Frame[]): string {
  return stack.map((f) => "keys" in f ? escapePointer(f.name ?? "") : escapePointer(f.index))
    .join("");
}

/** The first duplicate member name in the valid JSON `text`, if any. */
export function duplicateName(text: string): IJsonViolation | undefined {
  const stack: Frame[] = [];
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '"') {
      const end = stringEnd(text, i);
      const top = stack.at(-1);
      if (top && "keys" in top && top.expectKey) {
        const raw = text.slice(i + 1, end);
        // Only a name with an escape needs decoding (rare; JSON.parse per name cost ~1% of a publish).
        const name = raw.includes("\\") ? JSON.parse(`"${raw}"`) as string : raw;
        if (top.keys.has(name)) {
          top.name = name;
          return { pointer: pointerOf(stack), detail: `member name "${name}" appears twice` };
        }
        top.keys.add(name);
        top.name = name;
        top.expectKey = false;
      }
      i = end;
    } else if (c === "{") {
      stack.push({ keys: new Set(), expectKey: true });
    } else if (c === "[") {
      stack.push({ index: 0 });
    } else if (c === "}" || c === "]") {
      stack.pop();
    } else if (c === ",") {
      const top = stack.at(-1)!;
      if ("keys" in top) top.expectKey = true;
      else top.index++;
    }
  }
  return undefined;
}

/** The first string (member name or value) in `value` that holds a lone surrogate. */
export function loneSurrogate(value: unknown, pointer = ""): IJsonViolation | undefined {
  if (typeof value === "string") {
    return value.isWellFormed()
      ? undefined
      : { pointer, detail: "holds a lone UTF-16 surrogate (\\uD800-\\uDFFF)" };
  }
  if (typeof value !== "object" || value === null) return undefined;
  for (const [name, member] of Object.entries(value)) {
    const at = pointer + escapePointer(name);
    if (!name.isWellFormed()) {
      return { pointer: at, detail: "member name holds a lone UTF-16 surrogate" };
    }
    const found = loneSurrogate(member, at);
    if (found) return found;
  }
  return undefined;
}

/** The first I-JSON violation of `value`, parsed from `text`. */
export function iJsonViolation(text: string, value: unknown): IJsonViolation | undefined {
  // A lone surrogate can only arrive escaped: UTF-8 decoding already refused encoded ones.
  return duplicateName(text) ?? (text.includes("\\u") ? loneSurrogate(value) : undefined);
}

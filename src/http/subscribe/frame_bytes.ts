/**
 * The size of a WebSocket message as it was on the wire: UTF-8 bytes for a
 * text message (a JavaScript string's `length` counts UTF-16 units, so
 * `"€".length` is 1 but it is 3 bytes), the byte length of a binary one.
 *
 * @module
 */

/** The UTF-8 length of `text`, without encoding it. */
export function utf8ByteLength(text: string): number {
  let bytes = 0;
  for (let i = 0; i < text.length; i++) {
    const unit = text.charCodeAt(i);
    if (unit < 0x80) bytes += 1;
    else if (unit < 0x800) bytes += 2;
    else if (unit >= 0xd800 && unit <= 0xdbff && i + 1 < text.length) {
      const next = text.charCodeAt(i + 1);
      // A surrogate pair is one code point of 4 bytes; a lone surrogate is sent as U+FFFD (3).
      if (next >= 0xdc00 && next <= 0xdfff) {
        bytes += 4;
        i++;
      } else bytes += 3;
    } else bytes += 3;
  }
  return bytes;
}

/** The wire size of a WebSocket `message` event's `data`. */
export function messageBytes(data: string | ArrayBuffer | Blob | ArrayBufferView): number {
  if (typeof data === "string") return utf8ByteLength(data);
  if (data instanceof Blob) return data.size;
  return data.byteLength;
}

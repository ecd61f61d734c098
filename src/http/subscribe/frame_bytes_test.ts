import assert from "node:assert/strict";
import { messageBytes, utf8ByteLength } from "./frame_bytes.ts";

Deno.test("text is measured in UTF-8 bytes, not UTF-16 units", () => {
  for (const text of ["", "ack", "é", "€", "😀", "a😀b€", "\ud800x", "x\udc00", "\ud800"]) {
    assert.equal(utf8ByteLength(text), new TextEncoder().encode(text).byteLength, text);
  }
  assert.equal(utf8ByteLength("€".repeat(2000)), 6000, "2,000 UTF-16 units are 6,000 bytes");
});

Deno.test("binary messages are measured by their byte length", () => {
  assert.equal(messageBytes(new ArrayBuffer(10)), 10);
  assert.equal(messageBytes(new Uint8Array(7)), 7);
  assert.equal(messageBytes(new Blob(["abc"])), 3);
});

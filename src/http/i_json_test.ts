import assert from "node:assert/strict";
import { duplicateName, iJsonViolation, loneSurrogate } from "./i_json.ts";

const check = (text: string) => iJsonViolation(text, JSON.parse(text));

Deno.test("duplicateName finds repeated members at any depth, also when escaped", () => {
  assert.deepEqual(duplicateName('{"a":1,"a":2}'), {
    pointer: "/a",
    detail: 'member name "a" appears twice',
  });
  assert.equal(
    duplicateName('{"data":{"b":[{"x":1},{"x":2,"\\u0078":3}]}}')?.pointer,
    "/data/b/1/x",
  );
  assert.equal(duplicateName('{"a/b":{"c":1,"c":1}}')?.pointer, "/a~1b/c");
});

Deno.test("duplicateName passes unique names, and strings that look like structure", () => {
  assert.equal(duplicateName('{"a":"{\\"a\\":1,","b":["a","a"],"c":{"a":1}}'), undefined);
  assert.equal(duplicateName('[{"a":1},{"a":1}]'), undefined);
  assert.equal(duplicateName('"just a string"'), undefined);
});

Deno.test("loneSurrogate finds unpaired surrogates in values and names", () => {
  assert.equal(loneSurrogate(JSON.parse('{"d":{"id":"x\\ud800"}}'))?.pointer, "/d/id");
  assert.equal(loneSurrogate(JSON.parse('{"\\udc00":1}'))?.pointer, "/\udc00");
  assert.equal(loneSurrogate(JSON.parse('{"ok":"\\ud83d\\ude00"}')), undefined);
});

Deno.test("iJsonViolation is undefined for ordinary bodies", () => {
  assert.equal(check('{"event_type":"X","data":{"emoji":"😀","n":[1,2]}}'), undefined);
  assert.ok(check('{"x":"\\udfff"}'));
});

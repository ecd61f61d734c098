import assert from "node:assert/strict";
import kafkajsMurmur2 from "kafkajs/src/producer/partitioners/default/murmur2.js";
import { murmur2, partitionFor } from "./partitioner.ts";

Deno.test("murmur2 matches kafkajs' Java-compatible murmur2", () => {
  const keys = ["", "a", "ab", "abc", "abcd", "cust123", "customer-ÿ-é", "x".repeat(129)];
  for (let i = 0; i < 200; i++) keys.push(`cust-${i * 7919}`);
  for (const key of keys) assert.equal(murmur2(key), kafkajsMurmur2(key), key);
});

Deno.test("partitionFor stays in range and is stable", () => {
  for (let i = 0; i < 100; i++) {
    const p = partitionFor(`c${i}`, 3);
    assert.ok(p >= 0 && p < 3);
    assert.equal(partitionFor(`c${i}`, 3), p);
  }
});

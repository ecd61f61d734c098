/**
 * `CustomerIdentified`: a guest recognised by a BLE beacon or a QR code at a
 * table.
 *
 * @module
 */
import { z } from "zod";
import { UtcTimestamp } from "./envelope.ts";

/** Schema of `CustomerIdentified` v1 `data`. */
export const CustomerIdentifiedV1 = z.object({
  customer_id: z.string().min(1).max(128).describe("The recognised customer; the partition key."),
  location: z.string().min(1).max(128).describe('Where the guest is, e.g. "Table 3".'),
  confidence: z.number().min(0).max(1).describe("How sure the detection is, 0.0 to 1.0."),
  beacon: z.object({
    uuid: z.uuid().describe("iBeacon proximity UUID."),
    major: z.int().min(0).max(65535).describe("iBeacon major number."),
    minor: z.int().min(0).max(65535).describe("iBeacon minor number."),
    rssi: z.int().min(-127).max(0).describe("Received signal strength in dBm."),
  }).strict().describe("The beacon reading behind the detection."),
  detected_at: UtcTimestamp.describe("When the device saw the guest (RFC 3339, UTC, Z)."),
}).strict();

/** `CustomerIdentified` v1 payload. */
export type CustomerIdentifiedV1 = z.infer<typeof CustomerIdentifiedV1>;

/** An example `CustomerIdentified` v1 `data`, shown in the OpenAPI document and the docs. */
export const CUSTOMER_IDENTIFIED_V1_EXAMPLE: CustomerIdentifiedV1 = {
  customer_id: "cust123",
  location: "Table 3",
  confidence: 0.92,
  beacon: { uuid: "f7826da6-4fa2-4e98-8024-bc5b71e0893e", major: 100, minor: 3, rssi: -58 },
  detected_at: "2026-11-23T18:04:05.120Z",
};

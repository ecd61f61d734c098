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

/**
 * `CustomerIdentified`: a guest recognised by a BLE beacon or a QR code at a
 * table. Beacons follow the iBeacon convention: UUID = organisation,
 * major = venue, minor = beacon.
 *
 * @module
 */
import { z } from "zod";
import { UtcTimestamp } from "./envelope.ts";
import type { EventTypeDefinition } from "./event_type.ts";

/** Schema of `CustomerIdentified` v1 `data`. */
export const CustomerIdentifiedV1 = z.object({
  customer_id: z.string().min(1).max(128).describe("The recognised customer; the partition key."),
  location: z.string().min(1).max(128).describe('Where the guest is, e.g. "Table 3".'),
  confidence: z.number().min(0).max(1).describe("How sure the detection is, 0.0 to 1.0."),
  beacon: z.object({
    uuid: z.uuid().describe("iBeacon proximity UUID: the organisation."),
    major: z.int().min(0).max(65535).describe("iBeacon major number: the venue."),
    minor: z.int().min(0).max(65535).describe("iBeacon minor number: the beacon."),
    rssi: z.int().min(-127).max(0).describe("Received signal strength in dBm."),
  }).strict().describe("The beacon reading behind the detection."),
  detected_at: UtcTimestamp.describe("When the device saw the guest (RFC 3339, UTC, Z)."),
}).strict();

/** `CustomerIdentified` v1 payload. */
export type CustomerIdentifiedV1 = z.infer<typeof CustomerIdentifiedV1>;

/** `CustomerIdentified`, as the registry reads it. */
export const CUSTOMER_IDENTIFIED: EventTypeDefinition = {
  name: "CustomerIdentified",
  description: "A guest was recognised by a BLE beacon or a QR code at a table.",
  versions: {
    v1: {
      data: CustomerIdentifiedV1,
      // The source design's example event.
      example: {
        customer_id: "cust123",
        location: "Table 3",
        confidence: 0.95,
        beacon: { uuid: "550e8400-e29b-41d4-a716-446655440000", major: 100, minor: 3, rssi: -50 },
        detected_at: "2025-03-02T12:00:00Z",
      } satisfies CustomerIdentifiedV1,
    },
  },
  partitionKey: "data.customer_id",
  subject: "customer_identified",
  endpoint: {
    path: "/v1/identifications",
    version: "v1",
    summary: "Publish a CustomerIdentified event from its data fields",
  },
  filters: {
    location: { path: "data.location", match: "equals", description: "Only this location." },
    customer_id: {
      path: "data.customer_id",
      match: "equals",
      description: "Only this customer.",
    },
    venue: {
      path: "data.beacon.major",
      match: "equals",
      description: "Only this venue (beacon major).",
    },
    min_confidence: {
      path: "data.confidence",
      match: "at_least",
      description: "Only detections at least this confident (0.0 to 1.0).",
    },
  },
  tenant: "data.beacon.major",
};

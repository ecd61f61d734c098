/**
 * The source design's example event, byte for byte as the design prints it:
 * the platform's contract that tests hold the gateway to.
 *
 * @module
 */

/** The design's `CustomerIdentified` example, as request body text. */
export const DESIGN_EVENT = `{
  "event_id":"evt-uuid-1234-5678-9012","event_type":"CustomerIdentified",
  "timestamp":"2025-03-02T12:00:00Z","version":"v1",
  "data":{"customer_id":"cust123","location":"Table 3","confidence":0.95,
    "beacon":{"uuid":"550e8400-e29b-41d4-a716-446655440000","major":100,"minor":3,"rssi":-50},
    "detected_at":"2025-03-02T12:00:00Z"}}`;

/**
 * Subscription filters, applied in the gateway before anything is sent.
 *
 * @module
 */
import type { Envelope } from "../events/envelope.ts";

/** What a subscriber wants; every field left out matches everything. */
export interface EventFilter {
  /** Only this event type. */
  eventType?: string;
  /** Only events whose `data.location` is this. */
  location?: string;
  /** Only events whose `data.customer_id` is this. */
  customerId?: string;
  /** Only events whose `data.confidence` is at least this. */
  minConfidence?: number;
}

/** Whether `envelope` passes `filter`. */
export function matches(filter: EventFilter, envelope: Envelope<Record<string, unknown>>): boolean {
  if (filter.eventType !== undefined && envelope.event_type !== filter.eventType) return false;
  const data = envelope.data ?? {};
  if (filter.location !== undefined && data.location !== filter.location) return false;
  if (filter.customerId !== undefined && data.customer_id !== filter.customerId) return false;
  if (filter.minConfidence !== undefined) {
    if (typeof data.confidence !== "number" || data.confidence < filter.minConfidence) return false;
  }
  return true;
}

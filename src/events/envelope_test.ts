import assert from "node:assert/strict";
import { isCalendarInstant } from "./envelope.ts";

/** What a `Date` parse and re-format says, the check it replaced. */
function byDate(s: string): boolean {
  const instant = new Date(s);
  return !Number.isNaN(instant.getTime()) && instant.toISOString().slice(0, 19) === s.slice(0, 19);
}

Deno.test("isCalendarInstant refuses days, hours and seconds that do not exist", () => {
  for (
    const s of [
      "2026-02-29T00:00:00Z",
      "1900-02-29T00:00:00Z",
      "2026-02-30T00:00:00Z",
      "2026-04-31T00:00:00Z",
      "2026-13-01T00:00:00Z",
      "2026-00-10T00:00:00Z",
      "2026-01-00T00:00:00Z",
      "2026-01-01T24:00:00Z",
      "2026-01-01T23:60:00Z",
      "2026-12-31T23:59:60Z",
    ]
  ) assert.equal(isCalendarInstant(s), false, s);
  for (
    const s of [
      "2024-02-29T00:00:00Z",
      "2000-02-29T12:30:45.120Z",
      "2026-12-31T23:59:59.999Z",
      "0001-01-01T00:00:00Z",
      "9999-12-31T23:59:59Z",
    ]
  ) assert.equal(isCalendarInstant(s), true, s);
});

Deno.test("isCalendarInstant agrees with a Date round trip on every day of 400 years' Februaries and month ends", () => {
  for (let year = 1800; year < 2200; year++) {
    for (let month = 1; month <= 12; month++) {
      for (const day of [28, 29, 30, 31, 32]) {
        const s = `${year}-${String(month).padStart(2, "0")}-${day}T23:59:59Z`;
        assert.equal(isCalendarInstant(s), byDate(s), s);
      }
    }
  }
});

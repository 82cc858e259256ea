/**
 * System B's logical dates: calendar days in UTC written YYYY-MM-DD (SPEC §6: a day's silver, its
 * warehouse load and its DAG run are all named by one). The one place that turns them into
 * instants and back; comparing two such strings compares the days.
 */

const DATE = /^\d{4}-\d{2}-\d{2}$/;
export const DAY_MS = 86_400_000;

/** The days a logical date may name: those of the event times the commerce contract accepts. */
export const FIRST_DATE = '1970-01-01';
export const LAST_DATE = '2199-12-31';
export const DATE_RANGE_TEXT = `a date YYYY-MM-DD from ${FIRST_DATE} to ${LAST_DATE}`;

/** True for a real calendar date written YYYY-MM-DD, from FIRST_DATE to LAST_DATE. */
export function isDate(text: string): boolean {
  if (!DATE.test(text) || text < FIRST_DATE || text > LAST_DATE) return false;
  const ms = Date.parse(`${text}T00:00:00Z`);
  // 2025-13-45 does not parse; 2025-02-30 parses as March 2nd.
  return !Number.isNaN(ms) && utcDay(ms) === text;
}

/** The UTC day of an instant, YYYY-MM-DD. */
export function utcDay(ms: number): string {
  return new Date(ms).toISOString().slice(0, 10);
}

/** `date` moved by `days` (negative: back). */
export function addDays(date: string, days: number): string {
  return utcDay(Date.parse(`${date}T00:00:00Z`) + days * DAY_MS);
}

/** Every date from `from` to `to`, inclusive, in order. */
export function dateRange(from: string, to: string): string[] {
  const out: string[] = [];
  for (let d = from; d <= to; d = addDays(d, 1)) out.push(d);
  return out;
}

/** The default logical date: yesterday (UTC). */
export function yesterday(nowMs = Date.now()): string {
  return utcDay(nowMs - DAY_MS);
}

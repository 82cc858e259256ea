/**
 * System B's logical dates: calendar days in UTC written YYYY-MM-DD (SPEC §6: a day's silver, its
 * warehouse load and its DAG run are all named by one). The one place that turns them into
 * instants and back; comparing two such strings compares the days.
 */

const DATE = /^\d{4}-\d{2}-\d{2}$/;
export const DAY_MS = 86_400_000;

/** True for a real calendar date written YYYY-MM-DD. */
export function isDate(text: string): boolean {
  if (!DATE.test(text)) return false;
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

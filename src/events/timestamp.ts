/**
 * Strict ISO-8601 timestamps with a `Z` or a numeric offset, parsed to integer microseconds
 * since the epoch. Microseconds (not the milliseconds `Date.parse` keeps) so that two events a
 * few microseconds apart still have a stable event-time order, and integers so that window
 * arithmetic is exact.
 */
const DAYS_IN_MONTH = [31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

export const MICROS_PER_MS = 1_000;
export const MICROS_PER_SECOND = 1_000_000;
export const MICROS_PER_MINUTE = 60_000_000;

const ZERO = 48;

/** Two ASCII digits at `i` as a number, or -1. */
function two(text: string, i: number): number {
  const a = text.charCodeAt(i) - ZERO;
  const b = text.charCodeAt(i + 1) - ZERO;
  return a >= 0 && a <= 9 && b >= 0 && b <= 9 ? a * 10 + b : -1;
}

/**
 * Returns microseconds since the epoch, or `undefined` when `text` is not a valid
 * `YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM|±HHMM)` timestamp. Hand-rolled (no RegExp, no Date)
 * because it runs once per event on the hot path.
 */
export function parseTimestampMicros(text: string): number | undefined {
  const len = text.length;
  if (len < 20 || len > 40) return undefined;
  const y1 = two(text, 0);
  const y2 = two(text, 2);
  const month = two(text, 5);
  const day = two(text, 8);
  const hour = two(text, 11);
  const minute = two(text, 14);
  const second = two(text, 17);
  if (
    y1 < 0 ||
    y2 < 0 ||
    month < 1 ||
    month > 12 ||
    day < 1 ||
    hour < 0 ||
    hour > 23 ||
    minute < 0 ||
    minute > 59 ||
    second < 0 ||
    second > 59 ||
    text.charCodeAt(4) !== 45 || // -
    text.charCodeAt(7) !== 45 ||
    text.charCodeAt(10) !== 84 || // T
    text.charCodeAt(13) !== 58 || // :
    text.charCodeAt(16) !== 58
  ) {
    return undefined;
  }
  const year = y1 * 100 + y2;
  const maxDay = month === 2 && !isLeapYear(year) ? 28 : DAYS_IN_MONTH[month - 1]!;
  if (day > maxDay) return undefined;
  let i = 19;
  let fraction = 0;
  const sep = text.charCodeAt(i);
  if (sep === 46 || sep === 44) {
    // . or ,
    i++;
    const startDigits = i;
    let scale = 100_000;
    while (i < len) {
      const d = text.charCodeAt(i) - ZERO;
      if (d < 0 || d > 9) break;
      if (scale >= 1) fraction += d * scale;
      scale /= 10;
      i++;
    }
    const digits = i - startDigits;
    if (digits < 1 || digits > 9) return undefined;
    fraction = Math.floor(fraction);
  }
  let offsetMinutes = 0;
  const z = text.charCodeAt(i);
  if (z === 90 && i + 1 === len) {
    // Z
  } else if (z === 43 || z === 45) {
    // + or -
    const oh = two(text, i + 1);
    const colon = text.charCodeAt(i + 3) === 58 ? 1 : 0;
    const om = two(text, i + 3 + colon);
    if (oh < 0 || oh > 23 || om < 0 || om > 59 || i + 5 + colon !== len) return undefined;
    offsetMinutes = (oh * 60 + om) * (z === 45 ? -1 : 1);
  } else {
    return undefined;
  }
  const seconds =
    daysFromCivil(year, month, day) * 86_400 + hour * 3_600 + minute * 60 + second - offsetMinutes * 60;
  return seconds * MICROS_PER_SECOND + fraction;
}

/** Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil). */
function daysFromCivil(year: number, month: number, day: number): number {
  const y = month <= 2 ? year - 1 : year;
  const era = Math.floor(y / 400);
  const yoe = y - era * 400;
  const doy = Math.floor((153 * (month + (month > 2 ? -3 : 9)) + 2) / 5) + day - 1;
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy;
  return era * 146_097 + doe - 719_468;
}

function isLeapYear(year: number): boolean {
  return (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0;
}

/** ISO-8601 text (UTC, `Z`) for a microsecond timestamp, keeping the microseconds. */
export function formatMicros(micros: number): string {
  const ms = Math.floor(micros / MICROS_PER_MS);
  const rest = micros - ms * MICROS_PER_MS;
  const iso = new Date(ms).toISOString();
  return rest === 0 ? iso : `${iso.slice(0, -1)}${String(rest).padStart(3, '0')}Z`;
}

/** Index (minutes since the epoch) of the one-minute window holding `micros`: a small integer, cheap as a Map key. */
export function minuteIndex(micros: number): number {
  return Math.floor(micros / MICROS_PER_MINUTE);
}

/** Start of the one-minute window holding `micros`. */
export function minuteFloor(micros: number): number {
  return Math.floor(micros / MICROS_PER_MINUTE) * MICROS_PER_MINUTE;
}

/** The logical dates commands take (`--date`, `--from`/`--to`): checked once, UTC. */
import { ConfigError } from '../errors.ts';

const DATE = /^\d{4}-\d{2}-\d{2}$/;

/** A flag's value as a date YYYY-MM-DD, or undefined when the flag is not given. */
export function dateFlag(flag: string, value: string | boolean | undefined): string | undefined {
  if (value === undefined) return undefined;
  const text = String(value);
  if (!isDate(text)) {
    throw new ConfigError(`--${flag} is ${JSON.stringify(text)}: expected a date YYYY-MM-DD`);
  }
  return text;
}

/**
 * A real calendar date YYYY-MM-DD: 2025-02-30 is not one (JavaScript would roll it over to March),
 * nor 2025-13-01 (an invalid Date, whose toISOString throws).
 */
export function isDate(text: string): boolean {
  if (!DATE.test(text)) return false;
  const ms = Date.parse(`${text}T00:00:00Z`);
  return Number.isFinite(ms) && new Date(ms).toISOString().slice(0, 10) === text;
}

/** Yesterday's date (UTC): the default logical date of the daily commands. */
export function yesterdayUtc(nowMs = Date.now()): string {
  return new Date(nowMs - 86_400_000).toISOString().slice(0, 10);
}

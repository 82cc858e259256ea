/** The logical dates commands take (`--date`, `--from`/`--to`): checked once, UTC. */
import { ConfigError } from '../errors.ts';

const DATE = /^\d{4}-\d{2}-\d{2}$/;

/** A flag's value as a date YYYY-MM-DD, or undefined when the flag is not given. */
export function dateFlag(flag: string, value: string | boolean | undefined): string | undefined {
  if (value === undefined) return undefined;
  const text = String(value);
  if (!DATE.test(text) || new Date(`${text}T00:00:00Z`).toISOString().slice(0, 10) !== text) {
    throw new ConfigError(`--${flag} is ${JSON.stringify(text)}: expected a date YYYY-MM-DD`);
  }
  return text;
}

/** Yesterday's date (UTC): the default logical date of the daily commands. */
export function yesterdayUtc(nowMs = Date.now()): string {
  return new Date(nowMs - 86_400_000).toISOString().slice(0, 10);
}

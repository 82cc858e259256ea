/** The logical dates commands take (`--date`, `--from`/`--to`): checked once, UTC. */
import { ConfigError } from '../errors.ts';
import { DATE_RANGE_TEXT, isDate } from '../lakehouse/dates.ts';

/** A flag's value as a date YYYY-MM-DD, or undefined when the flag is not given. */
export function dateFlag(flag: string, value: string | boolean | undefined): string | undefined {
  if (value === undefined) return undefined;
  const text = String(value);
  if (!isDate(text)) {
    throw new ConfigError(`--${flag} is ${JSON.stringify(text)}: expected ${DATE_RANGE_TEXT}`);
  }
  return text;
}

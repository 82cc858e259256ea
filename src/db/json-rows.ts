/**
 * Rows read as Postgres sent them (text) and written straight into JSON object text, for the read
 * endpoints that return pages of rows. node-postgres' default path builds an object per row, a
 * Date per timestamp (a regular expression and a Date per value: most of the API's time for a page
 * of 100 windows) that is then turned back into an ISO string and serialized again. Here a page
 * costs one string concatenation per value: 22-44 % more distinct-query requests per second on
 * the window and state pages (docs/benchmarks.md).
 *
 * The statement lists the columns in the order of the JSON keys and selects timestamps as
 * `ts AT TIME ZONE 'UTC'` (a timestamp without time zone, so its text does not depend on the
 * session's TimeZone); `utcIso` writes them as Date#toISOString does (milliseconds, `Z`), which is
 * the API's format.
 */
import type pg from 'pg';
import { storeError } from './errors.ts';
import type { NamedStatement } from './pool.ts';

/** How a column's text becomes a JSON value. */
export type JsonKind =
  /** A `timestamp` in UTC (`… AT TIME ZONE 'UTC'`): an ISO string with milliseconds and `Z`. */
  | 'utc'
  /** Text: a JSON string. */
  | 'text'
  /** Any integer, numeric or float column: a JSON number (NaN and infinities become null). */
  | 'number'
  /** A boolean (`t`/`f`). */
  | 'bool';

export type JsonField = readonly [key: string, kind: JsonKind];

/** A row as Postgres sent it: each value's text, or null. */
export type RawRow = (string | null)[];

// Every value stays text: the renderers below decide what it becomes.
const RAW_TYPES = { getTypeParser: () => (value: string) => value };

/** Runs one statement and returns its rows as text values, in column order (see RawRow). */
export async function queryRaw(
  pool: pg.Pool,
  statement: NamedStatement | string,
  values: unknown[] = [],
  what = 'query',
): Promise<RawRow[]> {
  const config =
    typeof statement === 'string'
      ? { text: statement, values, rowMode: 'array' as const, types: RAW_TYPES }
      : { ...statement, values, rowMode: 'array' as const, types: RAW_TYPES };
  try {
    return (await pool.query<RawRow>(config as pg.QueryArrayConfig)).rows;
  } catch (error) {
    throw storeError(error, what);
  }
}

/**
 * `YYYY-MM-DD HH:MM:SS[.ffffff]` (a timestamp's text in the ISO DateStyle) as
 * `YYYY-MM-DDTHH:MM:SS.mmmZ`, the fraction cut (not rounded) to milliseconds like a JavaScript
 * Date. Anything else (a zone offset, another DateStyle, a year past 9999) goes through Date; what
 * Date cannot read either (infinity) comes back unchanged.
 */
export function utcIso(text: string): string {
  if (ISO_TIMESTAMP.test(text)) {
    const ms = text.length > 20 ? `${text.slice(20, 23)}00`.slice(0, 3) : '000';
    return `${text.slice(0, 10)}T${text.slice(11, 19)}.${ms}Z`;
  }
  const zoned = /[+-]\d\d(:\d\d)?$/.test(text.slice(19));
  const date = new Date(zoned ? text.replace(/([+-]\d\d)$/, '$1:00') : `${text}Z`);
  return Number.isNaN(date.getTime()) ? text : date.toISOString();
}

const ISO_TIMESTAMP = /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(\.\d{1,6})?$/;

function jsonValue(kind: JsonKind, text: string | null): string {
  if (text === null) return 'null';
  switch (kind) {
    case 'utc':
      return `"${utcIso(text)}"`;
    case 'text':
      return JSON.stringify(text);
    case 'number':
      return text === 'NaN' || text === 'Infinity' || text === '-Infinity' ? 'null' : text;
    case 'bool':
      return text === 't' ? 'true' : 'false';
  }
}

/**
 * A function writing `fields.length` values of a raw row, from column `from` on, as one JSON
 * object with `fields`' keys in their order.
 */
export function jsonObjectWriter(fields: readonly JsonField[], from = 0): (row: RawRow) => string {
  const keys = fields.map(([key], i) => `${i === 0 ? '{' : ','}${JSON.stringify(key)}:`);
  const kinds = fields.map(([, kind]) => kind);
  return (row) => {
    let out = '';
    for (let i = 0; i < kinds.length; i++)
      out += keys[i] + jsonValue(kinds[i] as JsonKind, row[from + i] ?? null);
    return `${out}}`;
  };
}

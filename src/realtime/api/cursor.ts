/**
 * Keyset pagination (issue 14): `next_cursor` names the last row of a page, and `?cursor=` starts
 * the next page right after it, so a page deep into a range reads only its own rows (an offset
 * reads every row it skips). A cursor of a range also keeps the range's anchor (the newest window
 * when the first page was read): every page of a walk covers the same windows, even while new
 * minutes arrive, where offsets shift by a minute's streams each time one does.
 *
 * A cursor is the position itself, in plain text, so that its schema (a pattern) says exactly which
 * values are valid and every valid one means a page:
 *   /metrics, /metrics/history   <latest ms>~<window_start ms>~<stream_id>
 *   /metrics/latest              <latest ms>~<stream_id>
 *   /state                       <stream_id>
 * Times are Unix milliseconds; the stream_id is the rest of the text, `~` and all.
 */

/** After a row of a lookback range (/metrics, /metrics/history): its anchor and sort key. */
export interface RangeCursor {
  kind: 'range';
  /** The newest window_start when the walk began (ISO). */
  latest: string;
  windowStart: string;
  streamId: string;
}

/** After a stream of the newest window (/metrics/latest): that window and the stream. */
export interface LatestCursor {
  kind: 'latest';
  latest: string;
  streamId: string;
}

/** After a stream of /state. */
export interface StateCursor {
  kind: 'state';
  streamId: string;
}

export type Cursor = RangeCursor | LatestCursor | StateCursor;

// Up to 13 digits of milliseconds: 1970 to 2286, years Postgres and Date#toISOString both write
// with four digits.
const MS = '[0-9]{1,13}';
const STREAM = '[^\\u0000]+';

/** The `cursor` parameter's pattern per kind, for the schemas. */
export const CURSOR_PATTERNS: Record<Cursor['kind'], string> = {
  range: `^${MS}~${MS}~${STREAM}$`,
  latest: `^${MS}~${STREAM}$`,
  state: `^${STREAM}$`,
};

const REGEX = {
  range: new RegExp(`^(${MS})~(${MS})~(${STREAM})$`, 's'),
  latest: new RegExp(`^(${MS})~(${STREAM})$`, 's'),
  state: new RegExp(`^(${STREAM})$`, 's'),
};

const ms = (iso: string) => String(Date.parse(iso));
const iso = (digits: string) => new Date(Number(digits)).toISOString();

export function encodeCursor(c: Cursor): string {
  switch (c.kind) {
    case 'range':
      return `${ms(c.latest)}~${ms(c.windowStart)}~${c.streamId}`;
    case 'latest':
      return `${ms(c.latest)}~${c.streamId}`;
    case 'state':
      return c.streamId;
  }
}

/** Text that is not a cursor of the kind asked for (the schemas refuse it before this is reached). */
export class CursorError extends Error {
  override name = 'CursorError';
}

/** The position `text` names as a cursor of `kind`; throws CursorError when it is not one. */
export function decodeCursor<K extends Cursor['kind']>(text: string, kind: K): Extract<Cursor, { kind: K }> {
  const m = REGEX[kind].exec(text);
  if (m === null) {
    throw new CursorError(`cursor must match ${CURSOR_PATTERNS[kind]}: pass back a next_cursor unchanged`);
  }
  const cursor: Cursor =
    kind === 'range'
      ? { kind, latest: iso(m[1] as string), windowStart: iso(m[2] as string), streamId: m[3] as string }
      : kind === 'latest'
        ? { kind, latest: iso(m[1] as string), streamId: m[2] as string }
        : { kind: 'state', streamId: m[1] as string };
  return cursor as Extract<Cursor, { kind: K }>;
}

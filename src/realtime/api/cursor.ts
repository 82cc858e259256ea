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

import type { RangeAfter } from '../serving/index.ts';

/** After a row of a lookback range (/metrics, /metrics/history): its anchor and sort key. */
export interface RangeCursor extends RangeAfter {
  kind: 'range';
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

const MATCHES = {
  range: new RegExp(CURSOR_PATTERNS.range, 's'),
  latest: new RegExp(CURSOR_PATTERNS.latest, 's'),
  state: new RegExp(CURSOR_PATTERNS.state, 's'),
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
  if (!MATCHES[kind].test(text)) {
    throw new CursorError(`cursor must match ${CURSOR_PATTERNS[kind]}: pass back a next_cursor unchanged`);
  }
  // The times have no `~`; the stream_id is the rest, `~` and all.
  const parts = text.split('~');
  const cursor: Cursor =
    kind === 'range'
      ? {
          kind,
          latest: iso(parts[0] as string),
          windowStart: iso(parts[1] as string),
          streamId: parts.slice(2).join('~'),
        }
      : kind === 'latest'
        ? { kind, latest: iso(parts[0] as string), streamId: parts.slice(1).join('~') }
        : { kind: 'state', streamId: text };
  return cursor as Extract<Cursor, { kind: K }>;
}

/**
 * Keyset pagination (issue 14): `next_cursor` names the last row of a page, and `?cursor=` starts
 * the next page right after it, so a page deep into a range reads only its own rows (an offset
 * reads every row it skips). A cursor of a range also keeps the range's anchor (the newest window
 * when the first page was read): every page of a walk covers the same windows, even while new
 * minutes arrive, where offsets shift by a minute's streams each time one does.
 *
 * Opaque to clients (base64url of a small JSON array); anything that is not a cursor this API made
 * is refused with a 400 that says to start again without one.
 */
import { MAX_ID_LENGTH } from '../../events/index.ts';

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

const TAGS = { range: 'r', latest: 'l', state: 's' } as const;

export function encodeCursor(c: Cursor): string {
  const fields =
    c.kind === 'range'
      ? [TAGS.range, c.latest, c.windowStart, c.streamId]
      : c.kind === 'latest'
        ? [TAGS.latest, c.latest, c.streamId]
        : [TAGS.state, c.streamId];
  return Buffer.from(JSON.stringify(fields)).toString('base64url');
}

/** A cursor that is not one of ours, or not of this endpoint. */
export class CursorError extends Error {
  override name = 'CursorError';
}

const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

const isTime = (v: unknown): v is string =>
  typeof v === 'string' && ISO.test(v) && !Number.isNaN(Date.parse(v));
const isStream = (v: unknown): v is string =>
  typeof v === 'string' && v.length > 0 && v.length <= MAX_ID_LENGTH && !v.includes('\u0000');

/** The cursor `text` names, which must be of `kind`; throws CursorError otherwise. */
export function decodeCursor<K extends Cursor['kind']>(text: string, kind: K): Extract<Cursor, { kind: K }> {
  let fields: unknown;
  try {
    fields = JSON.parse(Buffer.from(text, 'base64url').toString('utf8'));
  } catch {
    fields = undefined;
  }
  const f = Array.isArray(fields) ? fields : [];
  let cursor: Cursor | undefined;
  if (
    kind === 'range' &&
    f.length === 4 &&
    f[0] === TAGS.range &&
    isTime(f[1]) &&
    isTime(f[2]) &&
    isStream(f[3])
  )
    cursor = { kind, latest: f[1], windowStart: f[2], streamId: f[3] };
  else if (kind === 'latest' && f.length === 3 && f[0] === TAGS.latest && isTime(f[1]) && isStream(f[2]))
    cursor = { kind, latest: f[1], streamId: f[2] };
  else if (kind === 'state' && f.length === 2 && f[0] === TAGS.state && isStream(f[1]))
    cursor = { kind, streamId: f[1] };
  if (cursor === undefined) {
    throw new CursorError(
      'cursor is not a next_cursor this endpoint gave out: pass it back unchanged, to the endpoint that gave it, or start again without one',
    );
  }
  return cursor as Extract<Cursor, { kind: K }>;
}

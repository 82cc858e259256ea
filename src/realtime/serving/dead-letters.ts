/**
 * The one writer of `dead_letter_events`, for both ways an event can be refused: at the HTTP edge
 * (source 'http', no partition or offset) and by the processor reading the log (source = topic,
 * with partition and offset, so a replay writes nothing twice). One rule makes any text storable,
 * so a dead letter can always be written whatever the event held; the raw bytes keep the original.
 */
import type pg from 'pg';
import { storeError } from '../../db/index.ts';
import { formatMicros } from '../../events/timestamp.ts';

export interface DeadLetter {
  /** Topic the event was read from, or 'http' for POST /events. */
  source: string;
  partition?: number | undefined;
  offset?: number | undefined;
  /** late | invalid_json | invalid_event | too_large | future_ts */
  reason: string;
  detail: string;
  raw: Buffer;
  eventId?: string | undefined;
  streamId?: string | undefined;
  /** Event time in µs since the epoch, when the event had a readable one. */
  eventTs?: number | undefined;
}

/** Postgres `timestamptz` holds 4713 BC … 294276 AD; an event time outside years 1..9999 is stored as null. */
const MIN_STORABLE_TS = Date.UTC(1, 0, 1) * 1000;
const MAX_STORABLE_TS = Date.UTC(10_000, 0, 1) * 1000;

/**
 * Text Postgres can hold: NUL becomes the visible escape `\u0000`, and lone UTF-16 surrogates
 * (which JSON can carry but UTF-8 cannot) become U+FFFD.
 */
export function storableText(text: string): string {
  const noNul = text.includes('\u0000') ? text.replaceAll('\u0000', '\\u0000') : text;
  return noNul.isWellFormed() ? noNul : noNul.toWellFormed();
}

function storableTs(micros: number | undefined): string | null {
  if (micros === undefined || !Number.isFinite(micros)) return null;
  return micros >= MIN_STORABLE_TS && micros < MAX_STORABLE_TS ? formatMicros(micros) : null;
}

const INSERT_DEAD_LETTERS = `
INSERT INTO dead_letter_events (source, partition, "offset", reason, detail, raw, event_id, stream_id, event_ts)
SELECT s, p, o, r, d, raw, eid, sid, ets
FROM unnest($1::text[], $2::int[], $3::bigint[], $4::text[], $5::text[], $6::bytea[], $7::text[], $8::text[], $9::timestamptz[])
  AS u(s, p, o, r, d, raw, eid, sid, ets)
ON CONFLICT (source, partition, "offset") DO NOTHING`;

/** Writes dead letters in one statement (on a pool, or on a client inside a transaction). */
export async function writeDeadLetters(
  db: Pick<pg.Pool, 'query'> | pg.ClientBase,
  letters: readonly DeadLetter[],
): Promise<void> {
  if (letters.length === 0) return;
  const optional = (s: string | undefined) => (s === undefined ? null : storableText(s));
  await db
    .query(INSERT_DEAD_LETTERS, [
      letters.map((l) => storableText(l.source)),
      letters.map((l) => l.partition ?? null),
      letters.map((l) => l.offset ?? null),
      letters.map((l) => storableText(l.reason)),
      letters.map((l) => storableText(l.detail)),
      letters.map((l) => l.raw),
      letters.map((l) => optional(l.eventId)),
      letters.map((l) => optional(l.streamId)),
      letters.map((l) => storableTs(l.eventTs)),
    ])
    .catch((error: unknown) => {
      throw storeError(error, 'write dead letters');
    });
}

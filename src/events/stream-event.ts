/**
 * The live-stream event: the one definition of its type, its validation and its documentation
 * (the OpenAPI document of POST /events and docs/events.md are derived from `StreamEventSchema`).
 */
import { isUtf8 } from 'node:buffer';
import Type, { type Static } from 'typebox';
import { Compile } from 'typebox/compile';
import { EVENT_TIME_RANGE_TEXT, isEventTimeInRange, shownValue, unstorableTextReason } from './limits.ts';
import { parseTimestampMicros } from './timestamp.ts';

export const STREAM_EVENT_TYPES = [
  'stream_start',
  'stream_stop',
  'viewer_join',
  'viewer_leave',
  'chat_message',
  'donation',
] as const;
export type StreamEventType = (typeof STREAM_EVENT_TYPES)[number];

/** Identifiers longer than this are refused: they would bloat every key and index built on them. */
export const MAX_ID_LENGTH = 256;
/** One donation above this is refused as implausible (and would overflow exact cent sums). */
export const MAX_DONATION_USD = 1_000_000;
/** The largest raw event accepted anywhere (topic, HTTP line, file line). */
export const MAX_EVENT_BYTES = 16 * 1024;

const Id = (description: string) => Type.String({ minLength: 1, maxLength: MAX_ID_LENGTH, description });

export const StreamEventSchema = Type.Object(
  {
    event_id: Id('Unique id of the event; a repeated id is counted once.'),
    ts: Type.String({
      maxLength: 40,
      description: 'Event time, ISO-8601 with `Z` or an offset, e.g. 2025-12-20T18:34:38.300308+00:00.',
    }),
    event_type: Type.Union(
      STREAM_EVENT_TYPES.map((t) => Type.Literal(t)),
      { description: 'What happened.' },
    ),
    stream_id: Id('The stream; also the partition key.'),
    user_id: Id('The user who did it.'),
    message_len: Type.Optional(
      Type.Union([Type.Integer({ minimum: 0, maximum: 1_000_000 }), Type.Null()], {
        description: 'Length of a chat message.',
      }),
    ),
    amount_usd: Type.Optional(
      Type.Union([Type.Number({ minimum: 0, maximum: MAX_DONATION_USD }), Type.Null()], {
        description: `Donation amount in USD, a finite number from 0 to ${MAX_DONATION_USD}; required for donations.`,
      }),
    ),
  },
  {
    additionalProperties: true,
    description: 'A live-stream event on topic `stream.events`, key `stream_id`.',
  },
);

export type StreamEvent = Static<typeof StreamEventSchema>;

/** A valid event and its event time in microseconds. */
export interface ParsedStreamEvent {
  event: StreamEvent;
  tsMicros: number;
}

export type InvalidReason = 'too_large' | 'invalid_json' | 'invalid_event';

/**
 * Every reason a live-stream event is kept in `dead_letter_events` instead of counted: the parse's
 * own, an event stamped too far ahead of its arrival, one older than the watermark, and one the
 * store refused and isolated (see processor/isolation.ts).
 */
export const STREAM_DEAD_LETTER_REASONS = [
  'too_large',
  'invalid_json',
  'invalid_event',
  'future_ts',
  'late',
  'unstorable',
] as const;
export type StreamDeadLetterReason = (typeof STREAM_DEAD_LETTER_REASONS)[number];

export type ParseResult =
  | { ok: true; value: ParsedStreamEvent }
  | { ok: false; reason: InvalidReason; detail: string };

const validator = Compile(StreamEventSchema);
const ID_FIELDS = ['event_id', 'stream_id', 'user_id'] as const;

/** Validates an already-decoded JSON value. */
export function validateStreamEvent(value: unknown): ParseResult {
  if (!validator.Check(value)) return { ok: false, reason: 'invalid_event', detail: describeError(value) };
  const event = value as StreamEvent;
  const tsMicros = parseTimestampMicros(event.ts);
  if (tsMicros === undefined) {
    return {
      ok: false,
      reason: 'invalid_event',
      detail: `ts: "${truncate(event.ts)}" is not an ISO-8601 time with Z or an offset`,
    };
  }
  if (!isEventTimeInRange(tsMicros)) {
    return {
      ok: false,
      reason: 'invalid_event',
      detail: `ts: "${truncate(event.ts)}" is outside the supported range ${EVENT_TIME_RANGE_TEXT}`,
    };
  }
  for (const field of ID_FIELDS) {
    // Ids are stored and keyed: Postgres must hold exactly the string we hold (see limits.ts).
    const why = unstorableTextReason(event[field]);
    if (why !== undefined) return { ok: false, reason: 'invalid_event', detail: `${field}: ${why}` };
  }
  if (event.event_type === 'donation' && (event.amount_usd === undefined || event.amount_usd === null)) {
    return { ok: false, reason: 'invalid_event', detail: 'amount_usd: required for a donation' };
  }
  return { ok: true, value: { event, tsMicros } };
}

/** Decodes and validates raw bytes (a topic message, an HTTP body line, a file line). */
export function parseStreamEvent(raw: Buffer | string): ParseResult {
  const size = typeof raw === 'string' ? Buffer.byteLength(raw) : raw.length;
  if (size > MAX_EVENT_BYTES) {
    return {
      ok: false,
      reason: 'too_large',
      detail: `event is ${size} bytes; the limit is ${MAX_EVENT_BYTES}`,
    };
  }
  // Decoding would replace invalid bytes with U+FFFD: two different ids could become one.
  if (typeof raw !== 'string' && !isUtf8(raw)) {
    return { ok: false, reason: 'invalid_json', detail: 'not valid UTF-8 (JSON text must be UTF-8)' };
  }
  let value: unknown;
  try {
    value = JSON.parse(typeof raw === 'string' ? raw : raw.toString('utf8'));
  } catch (error) {
    return { ok: false, reason: 'invalid_json', detail: (error as Error).message };
  }
  return validateStreamEvent(value);
}

function describeError(value: unknown): string {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return `expected a JSON object, got ${Array.isArray(value) ? 'an array' : value === null ? 'null' : typeof value}`;
  }
  const record = value as Record<string, unknown>;
  for (const field of StreamEventSchema.required) {
    if (record[field] === undefined) return `${field}: required`;
  }
  const [first] = validator.Errors(value);
  if (first === undefined) return 'does not match the event schema';
  const path = first.instancePath.replace(/^\//, '').split('/')[0] || 'event';
  const given = record[path];
  if (path === 'event_type') {
    const shown = typeof given === 'string' ? `"${shownValue(given)}"` : shownValue(given);
    return `event_type: ${shown} is not one of ${STREAM_EVENT_TYPES.join(', ')}`;
  }
  if (path === 'amount_usd' && typeof given === 'number') {
    return `amount_usd: ${given} is outside 0..${MAX_DONATION_USD}`;
  }
  return `${path}: ${first.message}`;
}

function truncate(text: string): string {
  return text.length > 64 ? `${text.slice(0, 61)}...` : text;
}

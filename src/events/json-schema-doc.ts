/**
 * The live-stream event as a JSON schema for documents (the OpenAPI body of POST /events), derived
 * from `StreamEventSchema` and made as exact as a schema can be, so that schema-driven fuzzers
 * generate only events the edge accepts: `ts` gets a pattern of the timestamps the parser takes
 * (real dates, leap years), ids exclude NUL, and a donation requires `amount_usd`.
 *
 * The pattern is a subset of what is accepted (see documentedTsPattern), so generated events are
 * always accepted; docs/events.md states the whole rule.
 */
import { STREAM_EVENT_TYPES, StreamEventSchema } from './stream-event.ts';

const isLeap = (y: number) => (y % 4 === 0 && y % 100 !== 0) || y % 400 === 0;
const MONTH_DAY = '((0[1-9]|1[0-2])-(0[1-9]|1[0-9]|2[0-8])|(0[13-9]|1[0-2])-(29|30)|(0[13578]|1[02])-31)';
const TIME = '([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]([.,][0-9]{1,9})?';
const ZONE = '(Z|[+-]([01][0-9]|2[0-3]):?[0-5][0-9])';

/**
 * The timestamps `parseTimestampMicros` accepts in the years 1971..`lastYear`: real dates, leap
 * years included. Years are listed (a pattern has no arithmetic); 1970 is left out because an offset
 * can move its first hours before the epoch.
 */
export function tsPattern(lastYear: number): string {
  const years: number[] = [];
  for (let y = 1971; y <= lastYear; y++) years.push(y);
  const leap = years.filter(isLeap);
  return `^((${years.join('|')})-${MONTH_DAY}|(${leap.join('|')})-02-29)T${TIME}${ZONE}$`;
}

/**
 * The pattern of the documented schema ends with last year: events of this year may lie ahead of
 * the clock by more than RTSA_MAX_FUTURE_SKEW (future_ts), which no static pattern can say.
 */
export function documentedTsPattern(now = Date.now()): string {
  return tsPattern(new Date(now).getUTCFullYear() - 1);
}

type Json = Record<string, unknown>;

/** The event schema for documents: plain JSON schema, without TypeBox's symbols. */
export function streamEventDocSchema(now = Date.now()): Json {
  const plain = JSON.parse(JSON.stringify(StreamEventSchema)) as Json & {
    properties: Record<string, Json>;
    required: string[];
  };
  for (const id of ['event_id', 'stream_id', 'user_id']) {
    plain.properties[id] = { ...plain.properties[id], pattern: '^[^\\u0000]*$' };
  }
  plain.properties.ts = { ...plain.properties.ts, pattern: documentedTsPattern(now) };
  // OpenAPI 3.0 has no `const`: the union of literals becomes an enum.
  const { anyOf: _literals, ...eventType } = plain.properties.event_type as Json;
  plain.properties.event_type = { ...eventType, type: 'string', enum: [...STREAM_EVENT_TYPES] };
  const others = STREAM_EVENT_TYPES.filter((t) => t !== 'donation');
  const amount = (plain.properties.amount_usd as { anyOf: Json[] }).anyOf.find((s) => s.type === 'number');
  return {
    ...plain,
    // A donation needs its amount; other events may carry one (it is ignored) or not.
    anyOf: [
      { properties: { event_type: { type: 'string', enum: others } } },
      {
        properties: { event_type: { type: 'string', enum: ['donation'] }, amount_usd: amount },
        required: ['amount_usd'],
      },
    ],
  };
}

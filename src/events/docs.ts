import { commerceEventsMarkdown } from './commerce-event.ts';
import { EVENT_TIME_RANGE_TEXT } from './limits.ts';
import {
  MAX_DONATION_USD,
  MAX_EVENT_BYTES,
  MAX_ID_LENGTH,
  STREAM_EVENT_TYPES,
  StreamEventSchema,
} from './stream-event.ts';

interface FieldSchema {
  description?: string;
  type?: string;
  anyOf?: FieldSchema[];
  const?: string;
  minimum?: number;
  maximum?: number;
  minLength?: number;
  maxLength?: number;
}

function typeOf(schema: FieldSchema): string {
  if (schema.anyOf) {
    const consts = schema.anyOf.filter((s) => s.const !== undefined);
    if (consts.length === schema.anyOf.length) return 'one of the event types below';
    return schema.anyOf.map(typeOf).join(' or ');
  }
  const range =
    schema.minimum !== undefined || schema.maximum !== undefined
      ? ` ${schema.minimum ?? ''}..${schema.maximum ?? ''}`
      : '';
  const length =
    schema.maxLength !== undefined ? ` (${schema.minLength ?? 0}..${schema.maxLength} chars)` : '';
  return `${schema.type ?? 'any'}${range}${length}`;
}

/** docs/events.md, generated from the event schema (`npm run docs`). */
export function eventsMarkdown(): string {
  const required = new Set<string>(StreamEventSchema.required);
  const lines = [
    '# Events',
    '',
    '<!-- Generated from src/events/stream-event.ts by `npm run docs`; do not edit by hand. -->',
    '',
    `${(StreamEventSchema as { description?: string }).description} One JSON object per message (or per NDJSON line); at most`,
    `${MAX_EVENT_BYTES} bytes, UTF-8. Fields not listed are allowed and ignored.`,
    '',
    '| field | required | type | meaning |',
    '| --- | --- | --- | --- |',
  ];
  for (const [name, schema] of Object.entries(StreamEventSchema.properties) as [string, FieldSchema][]) {
    lines.push(
      `| \`${name}\` | ${required.has(name) ? 'yes' : 'no'} | ${typeOf(schema)} | ${schema.description ?? ''} |`,
    );
  }
  lines.push(
    '',
    `Event types: ${STREAM_EVENT_TYPES.map((t) => `\`${t}\``).join(', ')}.`,
    '',
    'Also invalid: an id that is empty, longer than',
    `${MAX_ID_LENGTH} characters, contains a NUL character or is not well-formed Unicode (a lone surrogate`,
    'such as `\\ud800`); a `ts` without `Z` or an offset, with more than 9 fraction digits (7 to 9 are',
    'truncated to the microsecond), or not a real date, or outside',
    `${EVENT_TIME_RANGE_TEXT} once its offset is applied; a donation`,
    `without \`amount_usd\`, or one outside 0..${MAX_DONATION_USD}. An invalid event is`,
    'never counted: it is kept in `dead_letter_events` with its raw bytes and the reason (see',
    '[semantics.md](semantics.md)).',
    '',
    'Example:',
    '',
    '```json',
    '{"event_id": "manual-donation-1", "ts": "2025-12-20T18:34:38.300308+00:00", "event_type": "donation",',
    ' "stream_id": "stream_1001", "user_id": "user_999", "amount_usd": 25.0}',
    '```',
    '',
  );
  return `${lines.join('\n')}\n${commerceEventsMarkdown()}`;
}

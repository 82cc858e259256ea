/**
 * Deliberately invalid events, of the kinds real producers get wrong. Every one of them fails
 * `parseStreamEvent` (test/generator/generator.test.ts checks each kind), so the processor must
 * dead-letter it with its raw bytes and keep going.
 */
import { MAX_DONATION_USD, MAX_EVENT_BYTES, MAX_ID_LENGTH } from '../events/stream-event.ts';
import { pickCumulative, type Random, randomInt } from './random.ts';

export const BAD_EVENT_KINDS = [
  'malformed_json',
  'not_an_object',
  'missing_field',
  'wrong_type',
  'negative_amount',
  'nan_amount',
  'amount_too_large',
  'donation_without_amount',
  'unknown_event_type',
  'ts_without_offset',
  'invalid_ts',
  'empty_stream_id',
  'oversize',
] as const;
export type BadEventKind = (typeof BAD_EVENT_KINDS)[number];

/** Oversize events are rarer: each one is more than 16 KiB on the wire. */
const KIND_WEIGHTS: Readonly<Record<BadEventKind, number>> = {
  malformed_json: 2,
  not_an_object: 1,
  missing_field: 2,
  wrong_type: 2,
  negative_amount: 1,
  nan_amount: 1,
  amount_too_large: 0.5,
  donation_without_amount: 1,
  unknown_event_type: 2,
  ts_without_offset: 1,
  invalid_ts: 1,
  empty_stream_id: 1,
  oversize: 0.25,
};
const KIND_CUMULATIVE = cumulate(BAD_EVENT_KINDS.map((k) => KIND_WEIGHTS[k]));

const REQUIRED_FIELDS = ['event_id', 'ts', 'event_type', 'stream_id', 'user_id'] as const;
const UNKNOWN_TYPES = ['viewer_jump', 'Donation', 'subscribe', 'stream_pause', 'CHAT_MESSAGE', ''];
const INVALID_TS = [
  '2025-02-30T12:00:00Z',
  '2025-12-20 18:34:38+00:00',
  'yesterday',
  '',
  '2025-12-20T25:00:00Z',
];
const NON_OBJECTS = ['null', '42', '"viewer_join"', 'true'];
const PADDING = 'lorem ipsum dolor sit amet ';

/** A valid event as a plain object, before it is serialized. */
export type EventRecord = Record<string, unknown>;

export interface BadEvent {
  kind: BadEventKind;
  value: string;
  /** `stream_id` when the bad event still carries a usable one, else ''. */
  key: string;
}

/** Turns a valid event into an invalid one of a random kind. `event` is modified. */
export function corruptEvent(random: Random, event: EventRecord): BadEvent {
  const kind = BAD_EVENT_KINDS[pickCumulative(random, KIND_CUMULATIVE)]!;
  const asDonation = () => {
    event.event_type = 'donation';
    delete event.message_len;
  };
  switch (kind) {
    case 'malformed_json':
      return { kind, value: malformJson(random, JSON.stringify(event)), key: '' };
    case 'not_an_object': {
      const variant = randomInt(random, NON_OBJECTS.length + 1);
      const value = variant === NON_OBJECTS.length ? `[${JSON.stringify(event)}]` : NON_OBJECTS[variant]!;
      return { kind, value, key: '' };
    }
    case 'missing_field':
      delete event[REQUIRED_FIELDS[randomInt(random, REQUIRED_FIELDS.length)]!];
      break;
    case 'wrong_type':
      switch (randomInt(random, 6)) {
        case 0:
          event.user_id = Number(String(event.user_id).replace(/\D/g, '')) || 1;
          break;
        case 1:
          event.ts = Date.parse(String(event.ts));
          break;
        case 2:
          event.event_id = { id: event.event_id };
          break;
        case 3:
          event.stream_id = Number(String(event.stream_id).replace(/\D/g, '')) || 1;
          break;
        case 4:
          event.event_type = 'chat_message';
          delete event.amount_usd;
          event.message_len = String(1 + randomInt(random, 200));
          break;
        default:
          asDonation();
          event.amount_usd = (1 + randomInt(random, 9999) / 100).toFixed(2);
      }
      break;
    case 'negative_amount':
      asDonation();
      event.amount_usd = -(1 + randomInt(random, 9999)) / 100;
      break;
    case 'nan_amount':
      asDonation();
      event.amount_usd = ['NaN', 'Infinity', '-Infinity'][randomInt(random, 3)];
      break;
    case 'amount_too_large':
      asDonation();
      event.amount_usd = MAX_DONATION_USD * (2 + randomInt(random, 1000));
      break;
    case 'donation_without_amount':
      asDonation();
      if (random() < 0.5) delete event.amount_usd;
      else event.amount_usd = null;
      break;
    case 'unknown_event_type':
      event.event_type = UNKNOWN_TYPES[randomInt(random, UNKNOWN_TYPES.length)];
      break;
    case 'ts_without_offset':
      event.ts = String(event.ts).replace(/(Z|[+-]\d{2}:?\d{2})$/, '');
      break;
    case 'invalid_ts':
      event.ts = INVALID_TS[randomInt(random, INVALID_TS.length)];
      break;
    case 'empty_stream_id':
      event.stream_id = '';
      break;
    case 'oversize': {
      const bytes = MAX_EVENT_BYTES + 1 + randomInt(random, 4096);
      event.note = PADDING.repeat(Math.ceil(bytes / PADDING.length)).slice(0, bytes);
      break;
    }
  }
  return { kind, value: JSON.stringify(event), key: keyOf(event) };
}

/** The partition key of a decoded value: its stream_id when that is a usable string, else ''. */
export function keyOf(value: unknown): string {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return '';
  const streamId = (value as EventRecord).stream_id;
  return typeof streamId === 'string' && streamId.length <= MAX_ID_LENGTH ? streamId : '';
}

function malformJson(random: Random, json: string): string {
  switch (randomInt(random, 4)) {
    case 0:
      // A line cut short, as by a crashed writer: no proper prefix of an object is valid JSON.
      return json.slice(0, 1 + randomInt(random, json.length - 1));
    case 1:
      return json.replaceAll('"', "'");
    case 2:
      return `${json.slice(0, -1)},}`;
    default:
      return json.replace(/"user_id":"[^"]*"/, '"user_id":user_1');
  }
}

function cumulate(weights: readonly number[]): number[] {
  let total = 0;
  return weights.map((w) => {
    total += w;
    return total;
  });
}

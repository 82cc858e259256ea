import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import {
  MAX_DONATION_USD,
  MAX_EVENT_BYTES,
  parseStreamEvent,
  STREAM_EVENT_TYPES,
} from '../../src/events/stream-event.ts';
import { formatMicros, minuteFloor, parseTimestampMicros } from '../../src/events/timestamp.ts';

const valid = {
  event_id: 'manual-donation-1',
  ts: '2025-12-20T18:34:38.300308+00:00',
  event_type: 'donation',
  stream_id: 'stream_1001',
  user_id: 'user_999',
  amount_usd: 25.0,
};

function reject(value: unknown, reason: string, detail: RegExp): void {
  const raw = typeof value === 'string' ? value : JSON.stringify(value);
  const result = parseStreamEvent(raw);
  assert.equal(result.ok, false, `expected ${raw.slice(0, 80)} to be invalid`);
  if (!result.ok) {
    assert.equal(result.reason, reason);
    assert.match(result.detail, detail);
  }
}

test('the seed example donation is valid, with microsecond event time', () => {
  const result = parseStreamEvent(JSON.stringify(valid));
  assert.ok(result.ok);
  assert.equal(result.value.tsMicros, Date.parse('2025-12-20T18:34:38.300Z') * 1000 + 308);
  assert.equal(result.value.event.amount_usd, 25);
});

test('every event type is accepted; extra fields and null optionals are fine', () => {
  for (const type of STREAM_EVENT_TYPES) {
    const e = { ...valid, event_type: type, amount_usd: type === 'donation' ? 1 : null, extra: { a: 1 } };
    assert.ok(parseStreamEvent(JSON.stringify(e)).ok, type);
  }
  assert.ok(parseStreamEvent(JSON.stringify({ ...valid, event_type: 'chat_message', message_len: null })).ok);
});

test('malformed JSON and non-objects', () => {
  reject('{"event_id":', 'invalid_json', /JSON/);
  reject('', 'invalid_json', /JSON/);
  reject([valid], 'invalid_event', /expected a JSON object, got an array/);
  reject(null, 'invalid_event', /got null/);
  reject('"text"', 'invalid_event', /got string/);
});

test('missing and empty required fields name the field', () => {
  for (const field of ['event_id', 'ts', 'event_type', 'stream_id', 'user_id']) {
    const e: Record<string, unknown> = { ...valid };
    delete e[field];
    reject(e, 'invalid_event', new RegExp(`^${field}: required`));
  }
  reject({ ...valid, stream_id: '' }, 'invalid_event', /^stream_id:/);
  reject({ ...valid, user_id: 'x'.repeat(300) }, 'invalid_event', /^user_id:/);
});

test('wrong types name the field', () => {
  reject({ ...valid, stream_id: 1001 }, 'invalid_event', /^stream_id: must be string/);
  reject({ ...valid, event_type: 'raid' }, 'invalid_event', /^event_type: "raid" is not one of/);
  reject({ ...valid, amount_usd: '25' }, 'invalid_event', /^amount_usd:/);
  reject({ ...valid, amount_usd: 'NaN' }, 'invalid_event', /^amount_usd:/);
  reject({ ...valid, event_type: 'chat_message', message_len: -1 }, 'invalid_event', /^message_len:/);
  reject({ ...valid, event_type: 'chat_message', message_len: 1.5 }, 'invalid_event', /^message_len:/);
});

test('donation amounts: required, finite, from 0 to the maximum', () => {
  reject({ ...valid, amount_usd: undefined }, 'invalid_event', /amount_usd: required for a donation/);
  reject({ ...valid, amount_usd: null }, 'invalid_event', /amount_usd: required for a donation/);
  reject({ ...valid, amount_usd: -0.01 }, 'invalid_event', /amount_usd: -0.01 is outside/);
  reject({ ...valid, amount_usd: MAX_DONATION_USD + 1 }, 'invalid_event', /is outside/);
  reject(
    JSON.stringify({ ...valid, amount_usd: 0 }).replace('"amount_usd":0', '"amount_usd":1e400'),
    'invalid_event',
    /^amount_usd: Infinity is outside/,
  );
  assert.ok(parseStreamEvent(JSON.stringify({ ...valid, amount_usd: 0 })).ok);
});

test('timestamps need a Z or an offset and a real date', () => {
  reject(
    { ...valid, ts: '2025-12-20T18:34:38' },
    'invalid_event',
    /^ts: .* not an ISO-8601 time with Z or an offset/,
  );
  reject({ ...valid, ts: '2025-02-30T00:00:00Z' }, 'invalid_event', /^ts:/);
  reject({ ...valid, ts: '2025-12-20 18:34:38Z' }, 'invalid_event', /^ts:/);
  reject({ ...valid, ts: 1766255678 }, 'invalid_event', /^ts: must be string/);
  reject({ ...valid, ts: 'yesterday' }, 'invalid_event', /^ts:/);
});

test('an event over the size limit is refused before parsing', () => {
  reject({ ...valid, pad: 'x'.repeat(MAX_EVENT_BYTES) }, 'too_large', /limit is 16384/);
});

test('timestamp parsing: offsets, fractions, leap years, formatting', () => {
  assert.equal(parseTimestampMicros('2024-02-29T00:00:00Z'), Date.parse('2024-02-29T00:00:00Z') * 1000);
  assert.equal(parseTimestampMicros('2023-02-29T00:00:00Z'), undefined);
  assert.equal(parseTimestampMicros('2025-01-01T02:00:00+02:00'), Date.parse('2025-01-01T00:00:00Z') * 1000);
  assert.equal(parseTimestampMicros('2025-01-01T00:00:00-0130'), Date.parse('2025-01-01T01:30:00Z') * 1000);
  assert.equal(parseTimestampMicros('2025-01-01T00:00:00.1Z'), Date.parse('2025-01-01T00:00:00.100Z') * 1000);
  assert.equal(
    parseTimestampMicros('2025-01-01T00:00:00.123456789Z'),
    Date.parse('2025-01-01T00:00:00.123Z') * 1000 + 456,
  );
  assert.equal(parseTimestampMicros('2025-01-01T24:00:00Z'), undefined);
  const t = parseTimestampMicros('2025-12-20T18:34:38.300308Z')!;
  assert.equal(formatMicros(t), '2025-12-20T18:34:38.300308Z');
  assert.equal(formatMicros(minuteFloor(t)), '2025-12-20T18:34:00.000Z');
});

/** The obvious implementation, to check the hand-rolled parser against. */
function referenceMicros(text: string): number | undefined {
  const m =
    /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:[.,](\d{1,9}))?(?:(Z)|([+-])(\d{2}):?(\d{2}))$/.exec(
      text,
    );
  if (m === null) return undefined;
  const [y, mo, d, h, mi, s] = [1, 2, 3, 4, 5, 6].map((i) => Number(m[i]));
  if (mo! < 1 || mo! > 12 || d! < 1 || h! > 23 || mi! > 59 || s! > 59) return undefined;
  const date = new Date(0);
  date.setUTCFullYear(y!, mo! - 1, d!); // not Date.UTC: it maps years 0-99 to 1900-1999
  date.setUTCHours(h!, mi!, s!, 0);
  if (date.getUTCDate() !== d) return undefined;
  if (m[10] !== undefined && (Number(m[10]) > 23 || Number(m[11]) > 59)) return undefined;
  const offset = m[8] ? 0 : (Number(m[10]) * 60 + Number(m[11])) * (m[9] === '-' ? -1 : 1);
  const fraction = m[7] === undefined ? 0 : Number(m[7].slice(0, 6).padEnd(6, '0'));
  return (date.getTime() - offset * 60_000) * 1000 + fraction;
}

test('the timestamp parser agrees with the reference on generated timestamps and junk', () => {
  const pad = (n: number, w: number) => String(n).padStart(w, '0');
  fc.assert(
    fc.property(
      fc.record({
        y: fc.integer({ min: 1, max: 9999 }),
        mo: fc.integer({ min: 0, max: 13 }),
        d: fc.integer({ min: 0, max: 32 }),
        h: fc.integer({ min: 0, max: 25 }),
        mi: fc.integer({ min: 0, max: 61 }),
        s: fc.integer({ min: 0, max: 61 }),
        frac: fc.option(fc.stringMatching(/^[0-9]{1,10}$/)),
        zone: fc.oneof(
          fc.constant('Z'),
          fc
            .tuple(
              fc.constantFrom('+', '-'),
              fc.integer({ min: 0, max: 25 }),
              fc.integer({ min: 0, max: 61 }),
              fc.boolean(),
            )
            .map(([sign, oh, om, colon]) => `${sign}${pad(oh, 2)}${colon ? ':' : ''}${pad(om, 2)}`),
        ),
      }),
      (p) => {
        const text = `${pad(p.y, 4)}-${pad(p.mo, 2)}-${pad(p.d, 2)}T${pad(p.h, 2)}:${pad(p.mi, 2)}:${pad(p.s, 2)}${p.frac === null ? '' : `.${p.frac}`}${p.zone}`;
        assert.equal(parseTimestampMicros(text), referenceMicros(text), text);
      },
    ),
    { numRuns: 5000 },
  );
  fc.assert(
    fc.property(fc.string({ maxLength: 45 }), (text) => {
      assert.equal(parseTimestampMicros(text), referenceMicros(text));
    }),
    { numRuns: 5000 },
  );
});

test('regression: ids with a NUL character are invalid (Postgres text cannot store them)', () => {
  reject({ ...valid, stream_id: 'a\u0000b' }, 'invalid_event', /^stream_id: contains a NUL character/);
  reject({ ...valid, event_id: '\u0000' }, 'invalid_event', /^event_id: contains a NUL/);
});

test('docs/events.md is generated from the schema and up to date', async () => {
  const { readFile } = await import('node:fs/promises');
  const { eventsMarkdown } = await import('../../src/events/docs.ts');
  assert.equal(await readFile('docs/events.md', 'utf8'), eventsMarkdown(), 'run `npm run docs`');
});

/**
 * The documented event schema (OpenAPI body of POST /events) must describe exactly what the edge
 * accepts, or schema-driven fuzzers report gaps: its `ts` pattern against the parser, both ways.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { isEventTimeInRange } from '../../src/events/limits.ts';
import { parseStreamEvent } from '../../src/events/stream-event.ts';
import { documentedTsPattern, streamEventDocSchema, tsPattern } from '../../src/events/json-schema-doc.ts';
import { parseTimestampMicros } from '../../src/events/timestamp.ts';

const pattern = new RegExp(tsPattern(2198));
const two = (n: number) => String(n).padStart(2, '0');

test('the ts pattern matches exactly the timestamps the parser accepts (years 1971-2198)', () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 1971, max: 2198 }),
      fc.integer({ min: 0, max: 13 }),
      fc.integer({ min: 0, max: 32 }),
      fc.integer({ min: 0, max: 24 }),
      fc.integer({ min: 0, max: 60 }),
      fc.constantFrom('', '.5', ',123456', '.123456789', '.1234567890'),
      fc.constantFrom('Z', '+00:00', '-23:59', '+2400', '+05:30', '-0800', 'z', ''),
      (year, month, day, hour, minute, fraction, zone) => {
        const ts = `${year}-${two(month)}-${two(day)}T${two(hour)}:${two(minute)}:00${fraction}${zone}`;
        const micros = parseTimestampMicros(ts);
        const accepted = micros !== undefined && isEventTimeInRange(micros);
        assert.equal(pattern.test(ts), accepted, ts);
      },
    ),
    { numRuns: 3000 },
  );
  for (const leap of ['1972-02-29T00:00:00Z', '2000-02-29T00:00:00Z', '2196-02-29T00:00:00Z']) {
    assert.ok(pattern.test(leap), leap);
  }
  for (const notLeap of ['2100-02-29T00:00:00Z', '1999-02-29T00:00:00Z', '2023-04-31T00:00:00Z']) {
    assert.equal(pattern.test(notLeap), false, notLeap);
    assert.equal(parseTimestampMicros(notLeap), undefined, notLeap);
  }
});

test('the documented pattern ends last year: no generated event is ahead of the clock', () => {
  const doc = new RegExp(documentedTsPattern(Date.parse('2026-06-01T00:00:00Z')));
  assert.ok(doc.test('2025-12-31T23:59:59.999Z'));
  assert.equal(doc.test('2026-01-01T00:00:00Z'), false);
  assert.equal(doc.test('1970-06-01T00:00:00Z'), false);
});

test('the documented schema requires amount_usd for donations and lists the event types', () => {
  const doc = streamEventDocSchema() as { anyOf: unknown[]; properties: Record<string, { enum?: string[] }> };
  assert.equal(doc.anyOf.length, 2);
  assert.ok(doc.properties.event_type?.enum?.includes('donation'));
  const donation = {
    event_id: 'a',
    ts: '2026-01-01T00:00:00Z',
    event_type: 'donation',
    stream_id: 's',
    user_id: 'u',
  };
  assert.equal(parseStreamEvent(JSON.stringify(donation)).ok, false);
});

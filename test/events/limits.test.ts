/**
 * The edge refuses what the database cannot represent (src/events/limits.ts), named after the
 * defects of issue 11 that made single events kill the processor.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  EVENT_TIME_MAX_MICROS,
  isEventTimeInRange,
  storableText,
  storableTime,
  unstorableTextReason,
} from '../../src/events/limits.ts';
import { parseStreamEvent } from '../../src/events/stream-event.ts';

const base = {
  event_id: 'e1',
  ts: '2026-05-01T10:00:00Z',
  event_type: 'chat_message',
  stream_id: 's1',
  user_id: 'u1',
};

function detailOf(value: Record<string, unknown>): string {
  const r = parseStreamEvent(JSON.stringify(value));
  assert.equal(r.ok, false, `expected ${JSON.stringify(value)} to be refused`);
  return r.ok ? '' : `${r.reason}: ${r.detail}`;
}

test('Regression: an event stamped 0000-01-01T00:00:00Z is refused at the edge (it killed the dead-letter insert)', () => {
  assert.match(
    detailOf({ ...base, ts: '0000-01-01T00:00:00Z' }),
    /^invalid_event: ts: .*outside the supported range/,
  );
});

test('timestamps are judged after their offset: pushed out of range by it, they are refused', () => {
  assert.match(detailOf({ ...base, ts: '1970-01-01T00:30:00+01:00' }), /outside the supported range/);
  assert.match(detailOf({ ...base, ts: '2199-12-31T23:59:59-23:59' }), /outside the supported range/);
  assert.match(detailOf({ ...base, ts: '9999-12-31T23:59:59.999999Z' }), /outside the supported range/);
  assert.match(detailOf({ ...base, ts: '1969-12-31T23:59:59.999999Z' }), /outside the supported range/);
  for (const ok of ['1970-01-01T00:00:00Z', '2199-12-31T23:59:59.999999Z', '1970-01-01T01:30:00+01:00']) {
    assert.ok(parseStreamEvent(JSON.stringify({ ...base, ts: ok })).ok, ok);
  }
  assert.equal(isEventTimeInRange(EVENT_TIME_MAX_MICROS), false);
  assert.equal(isEventTimeInRange(EVENT_TIME_MAX_MICROS - 1), true);
});

test('Regression: stream_ids differing only in lone surrogates are refused (they collided in Postgres)', () => {
  // JSON escapes: JSON.parse makes lone surrogates of them, which Postgres stores as U+FFFD.
  for (const field of ['stream_id', 'event_id', 'user_id']) {
    for (const lone of ['\\ud800', '\\udbff', '\\udc00', 'a\\udfffb']) {
      const raw = JSON.stringify({ ...base, [field]: 'PLACEHOLDER' }).replace('PLACEHOLDER', `sur-${lone}`);
      const r = parseStreamEvent(raw);
      assert.equal(r.ok, false, raw);
      if (!r.ok) assert.match(r.detail, new RegExp(`^${field}: is not well-formed Unicode`));
    }
  }
  // A well-formed pair of surrogates is one character, and fine.
  assert.ok(parseStreamEvent(JSON.stringify({ ...base, stream_id: 'emoji-\ud83d\ude00' })).ok);
});

test('non-characters and normalization twins are well-formed: accepted, and kept apart', () => {
  for (const id of ['\ufffe', '\uffff', '\ufdd0', 'caf\u00e9', 'cafe\u0301', '\u{10ffff}']) {
    assert.ok(parseStreamEvent(JSON.stringify({ ...base, stream_id: id })).ok, JSON.stringify(id));
  }
});

test('dead-letter text and times are always storable', () => {
  assert.equal(storableText('a\u0000b\ud800c'), 'a\ufffdb\ufffdc');
  assert.equal(storableText('plain'), 'plain');
  assert.equal(unstorableTextReason('ok'), undefined);
  assert.match(unstorableTextReason('x\u0000') ?? '', /NUL/);
  assert.equal(storableTime(-1), null);
  assert.equal(storableTime(undefined), null);
  assert.equal(storableTime(EVENT_TIME_MAX_MICROS), null);
  assert.equal(storableTime(5), 5);
});

/** How POST /events bodies are framed: line numbers, CRLF, BOM, blank lines, arrays, limits. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ApiError } from '../../../src/http/errors.ts';
import {
  ingestFormat,
  MAX_EVENTS_PER_REQUEST,
  parseIngestBody,
} from '../../../src/realtime/api/ingest-body.ts';

const NOW = Date.parse('2024-03-01T12:00:00Z');
const ev = (id: string, extra: Record<string, unknown> = {}) =>
  JSON.stringify({
    event_id: id,
    ts: '2024-03-01T12:00:00Z',
    event_type: 'chat_message',
    stream_id: `s-${id}`,
    user_id: 'u',
    ...extra,
  });

test('content types: application/json (any parameters, any case) is JSON; the others are NDJSON', () => {
  assert.equal(ingestFormat('application/json'), 'json');
  assert.equal(ingestFormat('Application/JSON; charset=utf-8'), 'json');
  assert.equal(ingestFormat('application/x-ndjson'), 'ndjson');
  assert.equal(ingestFormat('text/plain'), 'ndjson');
  assert.equal(ingestFormat(undefined), 'ndjson');
});

test('NDJSON: physical line numbers (blank lines count), CRLF and a BOM handled, no trailing newline needed', () => {
  const body = Buffer.from(`\ufeff${ev('a')}\r\n\r\n  \nbad\r\n${ev('b')}`);
  const batch = parseIngestBody(body, 'ndjson', { now: NOW });
  assert.deepEqual(
    batch.messages.map((m) => [m.key, String(m.value)]),
    [
      ['s-a', ev('a')],
      ['s-b', ev('b')],
    ],
  );
  assert.deepEqual(
    batch.rejections.map((r) => [r.line, r.reason, String(r.raw)]),
    [[4, 'invalid_json', 'bad']],
  );
});

test('JSON: a single event keeps its bytes (trimmed); array elements are re-serialized compactly', () => {
  const single = parseIngestBody(Buffer.from(`  ${ev('a')}\n`), 'json', { now: NOW });
  assert.equal(String(single.messages[0]?.value), ev('a'));
  const array = parseIngestBody(Buffer.from(`[\n  ${ev('a')},\n  ${ev('b')}\n]`), 'json', { now: NOW });
  assert.deepEqual(
    array.messages.map((m) => String(m.value)),
    [ev('a'), ev('b')],
  );
  const scalar = parseIngestBody(Buffer.from('42'), 'json', { now: NOW });
  assert.equal(scalar.rejections[0]?.reason, 'invalid_event');
});

test('dead-letter details never hold NUL (Postgres text refuses it)', () => {
  const batch = parseIngestBody(Buffer.from('{"event_id":"\\u0000x","ts":1}\n\u0000'), 'ndjson', {
    now: NOW,
  });
  assert.equal(batch.rejections.length, 2);
  for (const r of batch.rejections) assert.ok(!r.detail.includes('\u0000'), r.detail);
  assert.equal(batch.rejections[0]?.eventId, undefined, 'an id with NUL is not kept as an id');
});

test('more events than the limit: a 413 ApiError before anything is built', () => {
  assert.throws(
    () => parseIngestBody(Buffer.from('{}\n'.repeat(MAX_EVENTS_PER_REQUEST + 1)), 'ndjson', { now: NOW }),
    (e: unknown) => e instanceof ApiError && e.statusCode === 413,
  );
  assert.throws(
    () => parseIngestBody(Buffer.from(`[${'{},'.repeat(MAX_EVENTS_PER_REQUEST)}{}]`), 'json', { now: NOW }),
    (e: unknown) => e instanceof ApiError && e.statusCode === 413,
  );
  const blank = parseIngestBody(Buffer.from('\n'.repeat(MAX_EVENTS_PER_REQUEST * 2)), 'ndjson', { now: NOW });
  assert.equal(blank.messages.length + blank.rejections.length, 0, 'blank lines do not count');
});

test('future timestamps: refused only when a skew is configured', () => {
  const later = ev('f', { ts: '2024-03-01T12:20:00Z' });
  assert.equal(parseIngestBody(Buffer.from(later), 'ndjson', { now: NOW }).messages.length, 1);
  const strict = parseIngestBody(Buffer.from(later), 'ndjson', { now: NOW, maxFutureSkewMs: 15 * 60_000 });
  assert.equal(strict.rejections[0]?.reason, 'future_ts');
  const within = parseIngestBody(Buffer.from(ev('g', { ts: '2024-03-01T12:14:59Z' })), 'ndjson', {
    now: NOW,
    maxFutureSkewMs: 15 * 60_000,
  });
  assert.equal(within.messages.length, 1);
});

test('regression: a JSON array body with invalid UTF-8 is refused, not decoded lossily', () => {
  const event = (id: string) =>
    `{"event_id":"${id}","ts":"2026-01-01T00:00:00Z","event_type":"chat_message","stream_id":"s","user_id":"u"}`;
  const body = Buffer.concat([
    Buffer.from(`[${event('a')},`),
    Buffer.from(event('b\xff').replace('\xff', ''), 'latin1'),
    Buffer.from([0xff]),
    Buffer.from(']'),
  ]);
  const batch = parseIngestBody(body, 'json', { now: Date.parse('2026-01-01T00:00:00Z') });
  assert.equal(batch.messages.length, 0);
  assert.equal(batch.rejections.length, 1);
  assert.match(batch.rejections[0]!.detail, /not valid UTF-8/);
});

/**
 * Rows written as JSON from their text (src/db/json-rows.ts) equal what the typed path gives
 * (node-postgres' Dates and numbers, then JSON.stringify), on a real Postgres, for the values that
 * could tell them apart: fractions of a millisecond, dates before 1970, a session in another time
 * zone, text that needs escaping, floats in exponent form, NaN, booleans and nulls.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { jsonObjectWriter, queryRaw, utcIso } from '../../src/db/json-rows.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/postgres.ts';

let db: TestDatabase;

before(async () => {
  db = await createTestDatabase('jsonrows', { empty: true });
});

after(async () => {
  await db?.drop();
});

test('utcIso writes a timestamp as Date#toISOString does, cutting the fraction to milliseconds', () => {
  for (const [text, iso] of [
    ['2026-12-02 19:37:00', '2026-12-02T19:37:00.000Z'],
    ['2026-12-02 19:37:00.3', '2026-12-02T19:37:00.300Z'],
    ['2026-12-02 19:37:00.33', '2026-12-02T19:37:00.330Z'],
    ['2026-12-02 19:37:00.336', '2026-12-02T19:37:00.336Z'],
    ['2026-12-02 19:37:00.336999', '2026-12-02T19:37:00.336Z'],
    ['1969-07-20 20:17:40.000001', '1969-07-20T20:17:40.000Z'],
  ] as const) {
    assert.equal(utcIso(text), iso, text);
    assert.equal(utcIso(text), new Date(`${text.replace(' ', 'T')}Z`).toISOString(), text);
  }
  // With a zone (a timestamptz selected without AT TIME ZONE) or not in the ISO DateStyle: through
  // Date, never the fast path's misreading; not a date at all: unchanged.
  assert.equal(utcIso('2026-12-02 16:07:00.336999-03:30'), '2026-12-02T19:37:00.336Z');
  assert.equal(utcIso('2026-12-02 19:37:00.5+00'), '2026-12-02T19:37:00.500Z');
  assert.equal(utcIso('2026-12-02T19:37:00'), '2026-12-02T19:37:00.000Z');
  assert.equal(utcIso('infinity'), 'infinity');
});

test('jsonObjectWriter: keys in order, each kind, nulls, and columns from an offset', () => {
  const write = jsonObjectWriter(
    [
      ['at', 'utc'],
      ['name', 'text'],
      ['n', 'number'],
      ['ok', 'bool'],
    ],
    1,
  );
  assert.equal(
    write(['skip', '2026-01-02 03:04:05.6', 'a "quoted"\\ name\n', '-1.5e-07', 't']),
    '{"at":"2026-01-02T03:04:05.600Z","name":"a \\"quoted\\"\\\\ name\\n","n":-1.5e-07,"ok":true}',
  );
  assert.deepEqual(JSON.parse(write(['x', null, null, 'NaN', 'f'])), {
    at: null,
    name: null,
    n: null,
    ok: false,
  });
  assert.deepEqual(JSON.parse(write(['x', null, null, '-Infinity', 'f'])).n, null);
});

test('from a real Postgres, in a session of another time zone: the same JSON as the typed path', async () => {
  const client = await db.pool.connect();
  try {
    await client.query("SET TimeZone = 'America/St_Johns'"); // UTC-03:30: an offset of half an hour
    const values = `
      SELECT * FROM (VALUES
        (1, timestamptz '2026-12-02 19:37:00.336999+00', 'stream "one"', 12.5::float8, 7::int8, true),
        (2, timestamptz '1969-07-20 20:17:40.000001+00', E'tab\\there é ☃', 1e-7::float8, 0::int8, false),
        (3, timestamptz '2024-02-29 23:59:59.999999+00', '', 123456789012.25::float8, -3::int8, true),
        (4, timestamptz '2026-03-29 01:00:00+00', 'x', 0.1::float8 + 0.2::float8, 9007199254740991::int8, false)
      ) v(id, at, name, amount, n, ok)`;
    const typed = await client.query(`SELECT at, name, amount, n, ok FROM (${values}) v ORDER BY id`);
    const expected = typed.rows.map((r) => JSON.stringify({ ...r, at: (r.at as Date).toISOString() }));
    const raw = await queryRaw(
      { query: client.query.bind(client) } as never,
      `SELECT at AT TIME ZONE 'UTC', name, amount, n, ok FROM (${values}) v ORDER BY id`,
    );
    const write = jsonObjectWriter([
      ['at', 'utc'],
      ['name', 'text'],
      ['amount', 'number'],
      ['n', 'number'],
      ['ok', 'bool'],
    ]);
    assert.deepEqual(
      raw.map((r) => JSON.parse(write(r))),
      expected.map((e) => JSON.parse(e)),
    );
  } finally {
    client.release();
  }
});

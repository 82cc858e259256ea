/**
 * POST /events against the real embedded log and a real database: single events, arrays, NDJSON
 * with every kind of bad line, size limits, auth, and faults (log down, database down). Valid
 * events must reach the topic, invalid ones the dead_letter_events table, and neither blocks the other.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { after, before, beforeEach, describe, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { pino } from 'pino';
import { type ApiDeps, MAX_BODY_BYTES } from '../../../src/realtime/api/index.ts';
import { EmbeddedBus } from '../../../src/bus/embedded/index.ts';
import type { Sink } from '../../../src/bus/index.ts';
import { MAX_EVENT_BYTES, parseCommerceEvent } from '../../../src/events/index.ts';
import { createTestDatabase, type TestDatabase } from '../../helpers/postgres.ts';
import { buildTestApi, deadPool, readTopic, UnavailableSink } from './fixtures.ts';

let db: TestDatabase;
let dir: string;
let bus: EmbeddedBus;
let sink: Sink;
const apps: FastifyInstance[] = [];

before(async () => {
  db = await createTestDatabase('api_events');
  dir = await mkdtemp(path.join(tmpdir(), 'rtsa-api-events-'));
  bus = new EmbeddedBus({ dir, fsync: 'never', retentionMs: 86_400_000, segmentBytes: 64 * 1024 * 1024 });
  sink = bus.sink();
});

beforeEach(async () => {
  await db.pool.query('DELETE FROM dead_letter_events');
});

after(async () => {
  await Promise.allSettled(apps.map((a) => a.close()));
  await sink?.close();
  await bus?.close();
  await db?.drop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** An API appending to a topic of its own. */
async function setup(deps: Partial<ApiDeps> = {}) {
  const topic = `api-${randomUUID().slice(0, 8)}`;
  await bus.ensureTopic(topic, 2);
  const built = await buildTestApi({ pool: db.pool, sink, topic, ...deps });
  apps.push(built.app);
  return { ...built, topic };
}

let seq = 0;
function event(overrides: Record<string, unknown> = {}) {
  seq++;
  return {
    event_id: `e-${seq}`,
    ts: '2024-03-01T12:00:00.250+00:00',
    event_type: 'chat_message',
    stream_id: `stream_${seq % 3}`,
    user_id: `user_${seq}`,
    message_len: 12,
    ...overrides,
  };
}

function post(
  app: FastifyInstance,
  payload: string | Buffer,
  contentType = 'application/x-ndjson',
  headers = {},
) {
  return app.inject({
    method: 'POST',
    url: '/events',
    headers: { 'content-type': contentType, ...headers },
    payload,
  });
}

async function deadLetters() {
  const { rows } = await db.pool.query(
    `SELECT source, partition, "offset", reason, detail, raw, event_id, stream_id, event_ts
     FROM dead_letter_events ORDER BY id`,
  );
  return rows as {
    source: string;
    partition: number | null;
    offset: number | null;
    reason: string;
    detail: string;
    raw: Buffer;
    event_id: string | null;
    stream_id: string | null;
    event_ts: Date | null;
  }[];
}

describe('POST /events: accepted events reach the topic', () => {
  test('a single JSON event: 202, keyed by stream_id, the bytes as sent', async () => {
    const { app, topic } = await setup();
    const body = JSON.stringify(event({ stream_id: 'solo' }));
    const response = await post(app, body, 'application/json');
    assert.equal(response.statusCode, 202, response.body);
    assert.deepEqual(response.json(), { accepted: 1, rejected: 0, errors: [] });
    const { records, total } = await readTopic(bus, topic, 1);
    assert.equal(total, 1);
    assert.equal(records[0]?.key, 'solo');
    assert.equal(records[0]?.value.toString(), body);
    assert.deepEqual(await deadLetters(), []);
  });

  test('a JSON array: each element validated, valid ones appended as compact JSON', async () => {
    const { app, topic } = await setup();
    const good = [event({ stream_id: 'a' }), event({ stream_id: 'b', event_type: 'viewer_join' })];
    const bad = { ...event(), event_type: 'teleport' };
    const response = await post(app, JSON.stringify([good[0], bad, good[1]], null, 2), 'application/json');
    assert.equal(response.statusCode, 202, response.body);
    const result = response.json();
    assert.equal(result.accepted, 2);
    assert.equal(result.rejected, 1);
    assert.deepEqual(result.errors, [
      {
        line: 2,
        reason: 'invalid_event',
        detail:
          'event_type: "teleport" is not one of stream_start, stream_stop, viewer_join, viewer_leave, chat_message, donation',
      },
    ]);
    const { records, total } = await readTopic(bus, topic, 2);
    assert.equal(total, 2);
    assert.deepEqual(
      records.map((r) => r.value.toString()).sort(),
      good.map((g) => JSON.stringify(g)).sort(),
    );
    const [dl] = await deadLetters();
    assert.equal(dl?.reason, 'invalid_event');
    assert.deepEqual(JSON.parse(String(dl?.raw)), bad);
  });

  test('NDJSON with every kind of bad line: valid lines go through, each bad one is listed and kept', async () => {
    const { app, topic } = await setup();
    const lines = [
      /* 1 */ JSON.stringify(event({ stream_id: 'nd', event_id: 'ok-1' })),
      /* 2 */ '',
      /* 3 */ '{"event_id": "x", not json',
      /* 4 */ JSON.stringify({ ...event({ event_id: 'missing-user', stream_id: 'nd' }), user_id: undefined }),
      /* 5 */ JSON.stringify(event({ stream_id: 42 })),
      /* 6 */ JSON.stringify(event({ event_type: 'donation', amount_usd: -5 })),
      /* 7 */ JSON.stringify(event({ event_type: 'donation', amount_usd: 'NaN' })),
      /* 8 */ '{"event_id":"nan","ts":"2024-03-01T12:00:00Z","event_type":"donation","stream_id":"s","user_id":"u","amount_usd":NaN}',
      /* 9 */ JSON.stringify(event({ event_type: 'donation', amount_usd: 1e12 })),
      /* 10 */ JSON.stringify(event({ ts: '2024-13-01T00:00:00Z' })),
      /* 11 */ JSON.stringify(event({ ts: '2024-03-01T12:00:00' })),
      /* 12 */ JSON.stringify(event({ ts: 'yesterday' })),
      /* 13 */ JSON.stringify(event({ event_type: 'teleport' })),
      /* 14 */ JSON.stringify(
        event({ event_type: 'donation', amount_usd: 25, stream_id: 'nd', event_id: 'ok-2' }),
      ),
      /* 15 */ JSON.stringify(event({ padding: 'x'.repeat(MAX_EVENT_BYTES) })),
      /* 16 */ `${JSON.stringify(event({ event_type: 'viewer_join', stream_id: 'nd', event_id: 'ok-3' }))}\r`,
      /* 17 */ JSON.stringify(event({ ts: '2099-01-01T00:00:00Z', stream_id: 'nd', event_id: 'ok-4' })),
      /* 18 */ '   ',
      /* 19 */ '[1, 2]',
      /* 20 */ JSON.stringify(event({ event_type: 'donation', stream_id: 'nd' })),
    ];
    const response = await post(app, `${lines.join('\n')}\n`);
    assert.equal(response.statusCode, 202, response.body);
    const result = response.json();
    assert.equal(result.accepted, 4);
    assert.equal(result.rejected, 14);
    const reasons = result.errors.map((e: { line: number; reason: string }) => `${e.line}:${e.reason}`);
    assert.deepEqual(reasons, [
      '3:invalid_json',
      '4:invalid_event',
      '5:invalid_event',
      '6:invalid_event',
      '7:invalid_event',
      '8:invalid_json',
      '9:invalid_event',
      '10:invalid_event',
      '11:invalid_event',
      '12:invalid_event',
      '13:invalid_event',
      '15:too_large',
      '19:invalid_event',
      '20:invalid_event',
    ]);
    const detail = (line: number) => result.errors.find((e: { line: number }) => e.line === line).detail;
    assert.equal(detail(4), 'user_id: required');
    assert.match(detail(6), /amount_usd: -5 is outside 0\.\.1000000/);
    assert.match(detail(10), /^ts: /);
    assert.match(detail(15), new RegExp(`limit is ${MAX_EVENT_BYTES}`));
    assert.equal(detail(20), 'amount_usd: required for a donation');

    const { records, total } = await readTopic(bus, topic, 4);
    assert.equal(total, 4);
    assert.deepEqual(records.map((r) => JSON.parse(r.value.toString()).event_id).sort(), [
      'ok-1',
      'ok-2',
      'ok-3',
      'ok-4',
    ]);
    assert.ok(
      records.every((r) => r.key === 'nd' && !r.value.includes(0x0d)),
      'keyed by stream_id, CR stripped',
    );

    const letters = await deadLetters();
    assert.equal(letters.length, 14);
    assert.ok(letters.every((l) => l.source === 'http' && l.partition === null && l.offset === null));
    assert.deepEqual(
      letters.map((l) => l.reason),
      result.errors.map((e: { reason: string }) => e.reason),
    );
    assert.equal(letters[0]?.raw.toString(), lines[2], 'the raw bytes of the line');
    assert.equal(letters[1]?.event_id, 'missing-user', 'ids kept when known');
    assert.equal(letters[1]?.stream_id, 'nd');
    assert.equal(letters[1]?.event_ts?.toISOString(), '2024-03-01T12:00:00.250Z');
    assert.equal(letters[0]?.event_id, null);
    assert.ok(Buffer.byteLength(lines[14] ?? '') > MAX_EVENT_BYTES);
    assert.equal(
      letters[11]?.raw.length,
      MAX_EVENT_BYTES,
      'a too-large line keeps its first 16 KiB (issue 11)',
    );
  });

  test('text/plain is read as NDJSON too', async () => {
    const { app, topic } = await setup();
    const response = await post(
      app,
      [event(), event()].map((e) => JSON.stringify(e)).join('\n'),
      'text/plain; charset=utf-8',
    );
    assert.equal(response.statusCode, 202);
    assert.equal(response.json().accepted, 2);
    assert.equal((await readTopic(bus, topic, 2)).total, 2);
  });

  test('with maxFutureSkewMs, far-future events are refused as future_ts', async () => {
    const { app, topic } = await setup({ maxFutureSkewMs: 15 * 60_000 });
    const soon = new Date(Date.now() + 60_000).toISOString();
    const response = await post(
      app,
      [event({ ts: '2099-01-01T00:00:00Z', event_id: 'far' }), event({ ts: soon })]
        .map((e) => JSON.stringify(e))
        .join('\n'),
    );
    assert.equal(response.statusCode, 202);
    assert.deepEqual(response.json().errors, [
      {
        line: 1,
        reason: 'future_ts',
        detail: 'ts: "2099-01-01T00:00:00Z" is more than 900 s ahead of the server clock',
      },
    ]);
    assert.equal((await readTopic(bus, topic, 1)).total, 1);
    const [letter] = await deadLetters();
    assert.equal(letter?.reason, 'future_ts');
    assert.equal(letter?.event_id, 'far');
    assert.equal(letter?.event_ts?.toISOString(), '2099-01-01T00:00:00.000Z');
  });

  test('a 1 MB NDJSON body is accepted whole', async () => {
    const { app, topic } = await setup();
    const lines: string[] = [];
    let size = 0;
    while (size < 1024 * 1024) {
      const line = JSON.stringify(event({ message_len: size % 500 }));
      lines.push(line);
      size += line.length + 1;
    }
    const response = await post(app, lines.join('\n'));
    assert.equal(response.statusCode, 202);
    assert.equal(response.json().accepted, lines.length);
    const { total } = await readTopic(bus, topic, lines.length);
    assert.equal(total, lines.length);
  });
});

describe('POST /events: commerce events go to the commerce topic', () => {
  const commerce = (overrides: Record<string, unknown> = {}, payload: Record<string, unknown> = {}) => ({
    event_id: randomUUID(),
    idempotency_key: randomUUID(),
    user_id: 'u-42',
    timestamp: '2024-03-01T12:00:00.250000+00:00',
    event_type: 'purchase',
    device_type: 'mobile',
    ip_address: '10.1.2.3',
    schema_version: 'v1',
    payload: {
      transaction_id: 'TXN-1',
      product_id: 'PROD-1',
      quantity: 1,
      unit_price: 9.99,
      total_amount: 9.99,
      currency: 'EUR',
      ...payload,
    },
    ...overrides,
  });

  test('routed by event_type: live to the live topic, commerce to events_raw keyed by user_id, each judged by its contract', async () => {
    const commerceTopic = `raw-${randomUUID().slice(0, 8)}`;
    await bus.ensureTopic(commerceTopic, 2);
    const { app, topic } = await setup({ commerceTopic });
    const good = JSON.stringify(commerce());
    const bad = JSON.stringify(commerce({}, { currency: 'XYZ' }));
    const live = JSON.stringify(event({ stream_id: 'mixed' }));
    const response = await post(app, [live, good, bad].join('\n'));
    assert.equal(response.statusCode, 202, response.body);
    const body = response.json();
    assert.equal(body.accepted, 2);
    assert.equal(body.rejected, 1);
    assert.equal(body.errors[0].line, 3);
    assert.match(body.errors[0].detail, /currency/);
    // The invalid commerce event goes to the commerce topic too: the lake keeps it (bronze) and
    // dead-letters it, not dead_letter_events.
    const raw = await readTopic(bus, commerceTopic, 2);
    assert.equal(raw.total, 2);
    assert.deepEqual(
      raw.records.map((r) => [r.key, r.value.toString()]),
      [
        ['u-42', good],
        ['u-42', bad],
      ],
    );
    const streams = await readTopic(bus, topic, 1);
    assert.equal(streams.total, 1);
    assert.equal(streams.records[0]?.key, 'mixed');
    assert.equal((await deadLetters()).length, 0);
  });

  test('rejected commerce lines: reasons from the commerce contract (the lake gives the same), kept for the lake in line order', async () => {
    const commerceTopic = `raw-${randomUUID().slice(0, 8)}`;
    await bus.ensureTopic(commerceTopic, 1);
    const { app } = await setup({ commerceTopic });
    const { event_type: _, ...untyped } = commerce();
    const lines = [
      JSON.stringify(commerce()),
      JSON.stringify(untyped),
      JSON.stringify(commerce({ event_type: 'bogus' })),
      "{'user_id': 'u-1'}",
      '[1,2]',
      JSON.stringify(commerce({}, { currency: 'XYZ' })),
    ];
    const response = await post(app, lines.join('\n'));
    assert.equal(response.statusCode, 202, response.body);
    const body = response.json();
    assert.deepEqual([body.accepted, body.rejected], [1, 5]);
    const errors = body.errors as { line: number; reason: string; detail: string }[];
    assert.deepEqual(
      errors.map((e) => e.line),
      [2, 3, 4, 5, 6],
    );
    assert.match(errors[0]!.detail, /^event_type/);
    assert.match(errors[1]!.detail, /^event_type: "bogus"/);
    // Each reason is the one the lake records for the same bytes.
    errors.forEach((e) => {
      const judged = parseCommerceEvent(Buffer.from(lines[e.line - 1]!));
      assert.ok(!judged.ok);
      assert.deepEqual([e.reason, e.detail], [judged.reason, judged.detail]);
    });
    assert.deepEqual(errors.map((e) => e.reason).slice(2, 4), ['malformed_json', 'not_an_object']);
    const raw = await readTopic(bus, commerceTopic, lines.length);
    assert.deepEqual(
      raw.records.map((r) => r.value.toString()),
      lines,
    );
    assert.equal((await deadLetters()).length, 0);
  });

  test('a line that is not JSON goes with its request: to dead_letter_events beside live-stream events', async () => {
    const commerceTopic = `raw-${randomUUID().slice(0, 8)}`;
    await bus.ensureTopic(commerceTopic, 1);
    const { app, topic } = await setup({ commerceTopic });
    const response = await post(
      app,
      [JSON.stringify(event()), 'nope', JSON.stringify(commerce())].join('\n'),
    );
    assert.equal(response.statusCode, 202, response.body);
    assert.deepEqual(
      response.json().errors.map((e: { line: number; reason: string }) => [e.line, e.reason]),
      [[2, 'invalid_json']],
    );
    assert.equal((await readTopic(bus, topic, 1)).total, 1);
    assert.equal((await readTopic(bus, commerceTopic, 1)).total, 1);
    assert.equal((await deadLetters()).length, 1);
  });
});

describe('POST /events: refused requests', () => {
  test('nothing valid: 400 with the same body shape, and every line in the dead-letter table', async () => {
    const { app, topic } = await setup();
    const response = await post(app, 'nope\n{"event_id":1}\n');
    assert.equal(response.statusCode, 400);
    const result = response.json();
    assert.equal(result.accepted, 0);
    assert.equal(result.rejected, 2);
    assert.deepEqual(
      result.errors.map((e: { line: number; reason: string }) => [e.line, e.reason]),
      [
        [1, 'invalid_json'],
        [2, 'invalid_event'],
      ],
    );
    assert.equal((await deadLetters()).length, 2);
    assert.equal((await readTopic(bus, topic, 0)).total, 0);
  });

  test('a malformed JSON body: 400 JSON, kept as one dead letter, with a hint for several events', async () => {
    const { app } = await setup();
    const single = await post(app, '{"event_id": ', 'application/json');
    assert.equal(single.statusCode, 400);
    assert.equal(single.json().errors[0].reason, 'invalid_json');
    const twoObjects = `${JSON.stringify(event())}\n${JSON.stringify(event())}`;
    const ndjsonAsJson = await post(app, twoObjects, 'application/json');
    assert.equal(ndjsonAsJson.statusCode, 400);
    assert.match(ndjsonAsJson.json().errors[0].detail, /application\/x-ndjson/);
    const brokenArray = await post(app, '[{"a":1},', 'application/json');
    assert.equal(brokenArray.statusCode, 400);
    assert.match(brokenArray.json().errors[0].detail, /not a JSON array/);
    const letters = await deadLetters();
    assert.equal(letters.length, 3);
    assert.equal(letters[1]?.raw.toString(), twoObjects);
  });

  test('an empty body: 400 empty_body', async () => {
    const { app } = await setup();
    for (const [payload, type] of [
      ['', 'application/json'],
      ['', 'application/x-ndjson'],
      ['\n\n  \r\n', 'application/x-ndjson'],
      ['[]', 'application/json'],
      ['  ', 'application/json'],
    ] as const) {
      const response = await post(app, payload, type);
      assert.equal(response.statusCode, 400, `${JSON.stringify(payload)} ${type}`);
      assert.equal(response.json().error, 'empty_body');
    }
    const none = await app.inject({ method: 'POST', url: '/events' });
    assert.equal(none.statusCode, 400);
    assert.equal(none.json().error, 'empty_body');
    assert.deepEqual(await deadLetters(), []);
  });

  test('a 9 MB body: 413 JSON naming the limit', async () => {
    const { app, topic } = await setup();
    const line = JSON.stringify(event());
    const body = Buffer.alloc(9 * 1024 * 1024, `${line}\n`);
    const response = await post(app, body);
    assert.equal(response.statusCode, 413);
    const result = response.json();
    assert.equal(result.error, 'body_too_large');
    assert.match(result.message, new RegExp(String(MAX_BODY_BYTES)));
    assert.equal((await readTopic(bus, topic, 0)).total, 0);
  });

  test('more than 100000 events: 413 too_many_events, nothing written', async () => {
    const { app, topic } = await setup();
    const response = await post(app, '{}\n'.repeat(100_001));
    assert.equal(response.statusCode, 413);
    assert.equal(response.json().error, 'too_many_events');
    assert.deepEqual(await deadLetters(), []);
    assert.equal((await readTopic(bus, topic, 0)).total, 0);
  });

  test('the errors list stops at 1000; 1000 rejections a request are kept, the rest counted', async () => {
    const { app } = await setup();
    const response = await post(app, 'x\n'.repeat(1500));
    assert.equal(response.statusCode, 400);
    const result = response.json();
    assert.equal(result.rejected, 1500);
    assert.equal(result.errors.length, 1000);
    assert.equal(result.errors_omitted, 500);
    assert.equal(result.not_kept, 500, 'bounded per request (issue 11: dead-letter flood)');
    assert.equal((await deadLetters()).length, 1000);
  });

  test('an unsupported content type: 415 naming the accepted ones', async () => {
    const { app } = await setup();
    const response = await post(app, '<event/>', 'application/xml');
    assert.equal(response.statusCode, 415);
    assert.equal(response.json().error, 'unsupported_media_type');
    assert.match(response.json().allowed, /application\/x-ndjson/);
  });

  test('query parameters are refused', async () => {
    const { app } = await setup();
    const response = await app.inject({
      method: 'POST',
      url: '/events?topic=other',
      headers: { 'content-type': 'application/json' },
      payload: JSON.stringify(event()),
    });
    assert.equal(response.statusCode, 400);
    assert.equal(response.json().parameter, 'topic');
  });
});

describe('POST /events: auth', () => {
  test('with an ingest token: 401 without or with a wrong bearer, 202 with the right one', async () => {
    const { app, topic } = await setup({ ingestToken: 's3cret-token' });
    const body = JSON.stringify(event());
    const missing = await post(app, body, 'application/json');
    assert.equal(missing.statusCode, 401);
    assert.equal(missing.json().error, 'unauthorized');
    assert.equal(missing.headers['www-authenticate'], 'Bearer realm="rtsa"');
    for (const authorization of [
      'Bearer wrong',
      'Bearer s3cret-token-and-more',
      'Basic s3cret-token',
      's3cret-token',
    ]) {
      const wrong = await post(app, body, 'application/json', { authorization });
      assert.equal(wrong.statusCode, 401, authorization);
      assert.ok(!wrong.body.includes('s3cret'), 'the token is never echoed');
    }
    const right = await post(app, body, 'application/json', { authorization: 'Bearer s3cret-token' });
    assert.equal(right.statusCode, 202);
    const lower = await post(app, body, 'application/json', { authorization: 'bearer s3cret-token' });
    assert.equal(lower.statusCode, 202);
    assert.equal((await readTopic(bus, topic, 2)).total, 2);
    const read = await app.inject({ url: '/metrics' });
    assert.notEqual(read.statusCode, 401, 'only POST /events needs the token');
  });

  test('an unauthenticated 9 MB body is refused with 401 before it is read', async () => {
    const { app } = await setup({ ingestToken: 't' });
    const response = await post(app, Buffer.alloc(9 * 1024 * 1024, 'x'));
    assert.equal(response.statusCode, 401);
  });

  test('without a token: no auth needed', async () => {
    const { app } = await setup();
    assert.equal((await post(app, JSON.stringify(event()), 'application/json')).statusCode, 202);
  });

  test('the Authorization header never reaches the log', async () => {
    const lines: string[] = [];
    const logger = pino(
      { level: 'trace' },
      new Writable({
        write(chunk, _encoding, done) {
          lines.push(String(chunk));
          done();
        },
      }),
    );
    const { app } = await setup({ ingestToken: 'top-secret-value', logger });
    await post(app, JSON.stringify(event()), 'application/json', {
      authorization: 'Bearer top-secret-value',
    });
    await post(app, JSON.stringify(event()), 'application/json', {
      authorization: 'Bearer top-secret-wrong',
    });
    await post(app, 'x', 'application/x-ndjson', { authorization: 'Bearer top-secret-value' });
    assert.ok(lines.length > 0, 'requests were logged at debug');
    assert.ok(!lines.join('').includes('top-secret'), lines.join(''));
  });
});

describe('POST /events: faults', () => {
  test('the log is down: 503 bus_unavailable with Retry-After; invalid lines are still kept', async () => {
    const failing = new UnavailableSink();
    const { app } = await setup({ sink: failing });
    const response = await post(app, `${JSON.stringify(event())}\nbroken`);
    assert.equal(response.statusCode, 503);
    assert.equal(response.json().error, 'bus_unavailable');
    assert.equal(response.headers['retry-after'], '1');
    assert.equal(failing.attempts, 1);
    assert.equal((await deadLetters()).length, 1);
  });

  test('the database is down: valid-only batches are still accepted; batches with rejects get 503', async () => {
    const pool = await deadPool();
    const topic = `api-${randomUUID().slice(0, 8)}`;
    await bus.ensureTopic(topic, 1);
    const { app } = await buildTestApi({ pool, sink, topic });
    apps.push(app);
    try {
      const ok = await post(app, JSON.stringify(event()), 'application/json');
      assert.equal(ok.statusCode, 202);
      const mixed = await post(app, `${JSON.stringify(event())}\nbroken`);
      assert.equal(mixed.statusCode, 503);
      assert.equal(mixed.json().error, 'database_unavailable');
      assert.equal(mixed.headers['retry-after'], '5');
    } finally {
      await pool.end();
    }
  });

  test('ingest counters: accepted, and rejected by reason', async () => {
    const { app, registry } = await setup();
    await post(app, [JSON.stringify(event()), 'x', '{}', JSON.stringify(event())].join('\n'));
    const text = await registry.metrics();
    assert.match(text, /^api_ingest_events_accepted_total 2$/m);
    assert.match(text, /^api_ingest_events_rejected_total\{reason="invalid_json"\} 1$/m);
    assert.match(text, /^api_ingest_events_rejected_total\{reason="invalid_event"\} 1$/m);
  });
});

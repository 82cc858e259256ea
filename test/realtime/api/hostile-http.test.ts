/**
 * The HTTP surface against hostile requests (issue 11): non-canonical numbers, undeclared methods,
 * compressed bodies, deeply nested array elements, stalled uploads and malformed HTTP. Every answer
 * is a 4xx in the API's JSON error shape, never a 500; in-process, and on a real socket where the
 * behaviour belongs to the HTTP server.
 */
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { after, before, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { createTestDatabase, type TestDatabase } from '../../helpers/postgres.ts';
import { buildTestApi, RecordingSink } from './fixtures.ts';

let db: TestDatabase;
let app: FastifyInstance;
const sink = new RecordingSink();

before(async () => {
  db = await createTestDatabase('api_hostile');
  ({ app } = await buildTestApi({ pool: db.pool, sink, requestTimeoutMs: 1_000 }));
  await app.listen({ port: 0, host: '127.0.0.1' });
});

after(async () => {
  await app.close();
  await db.drop();
});

const event = (id: string) =>
  JSON.stringify({
    event_id: id,
    ts: new Date().toISOString(),
    event_type: 'chat_message',
    stream_id: 's',
    user_id: 'u',
  });

test('Regression: non-finite and non-canonical numbers in query parameters are 400 naming the parameter', async () => {
  for (const value of [
    'Infinity',
    '-Infinity',
    '1e309',
    '0x10',
    '1e1',
    '%205',
    '5%20',
    '010',
    '1.0',
    'NaN',
    '+5',
  ]) {
    for (const [route, name] of [
      ['/metrics', 'minutes'],
      ['/metrics/history', 'limit'],
      ['/streams/top', 'n'],
      ['/state', 'offset'],
    ] as const) {
      const response = await app.inject({ url: `${route}?${name}=${value}` });
      assert.equal(response.statusCode, 400, `${route}?${name}=${value}`);
      const body = response.json();
      assert.equal(body.parameter, name);
      assert.equal(body.error, 'invalid_parameter');
    }
  }
  assert.equal((await app.inject({ url: '/metrics?minutes=10&limit=1' })).statusCode, 200);
  assert.equal((await app.inject({ url: '/state?offset=0' })).statusCode, 200);
});

test('Regression: undeclared methods are 405 with Allow, in the JSON error shape', async () => {
  for (const [method, url, allow] of [
    ['DELETE', '/metrics', 'GET, HEAD'],
    ['TRACE', '/events', 'POST'],
    ['PUT', '/health?x=1', 'GET, HEAD'],
    ['PATCH', '/metrics/latest/', 'GET, HEAD'],
  ] as const) {
    const response = await app.inject({ method, url });
    assert.equal(response.statusCode, 405, `${method} ${url}`);
    assert.equal(response.headers.allow, allow);
    assert.equal(response.json().error, 'method_not_allowed');
  }
  assert.equal((await app.inject({ method: 'DELETE', url: '/nowhere' })).statusCode, 404);
});

test('Regression: a compressed body is refused with 415 instead of being read as plain bytes', async () => {
  for (const encoding of ['gzip', 'deflate', 'br', 'x-unknown']) {
    const response = await app.inject({
      method: 'POST',
      url: '/events',
      headers: { 'content-type': 'application/json', 'content-encoding': encoding },
      payload: event('gz'),
    });
    assert.equal(response.statusCode, 415, encoding);
    assert.deepEqual(response.json().allowed, 'identity');
  }
  const identity = await app.inject({
    method: 'POST',
    url: '/events',
    headers: { 'content-type': 'application/json', 'content-encoding': 'identity' },
    payload: event('plain'),
  });
  assert.equal(identity.statusCode, 202);
});

test('Regression: a deeply nested element of a JSON array is rejected as that element, the others accepted', async () => {
  sink.sent.length = 0;
  const depth = 500_000;
  const deep = `${'['.repeat(depth)}${']'.repeat(depth)}`;
  const deepInEvent = `{"event_id":"deep2","ts":"2026-01-01T00:00:00Z","event_type":"chat_message","stream_id":"s","user_id":"u","x":${'['.repeat(4000)}${']'.repeat(4000)}}`;
  const body = `[${event('before')}, ${deep}, ${deepInEvent}, ${event('after')}]`;
  const response = await app.inject({
    method: 'POST',
    url: '/events',
    headers: { 'content-type': 'application/json' },
    payload: body,
  });
  assert.equal(response.statusCode, 202);
  const result = response.json();
  assert.equal(result.accepted, 3, 'the valid events beside it, and a valid event with a nested extra field');
  assert.deepEqual(
    result.errors.map((e: { line: number; reason: string }) => [e.line, e.reason]),
    [[2, 'too_large']],
  );
  const { rows } = await db.pool.query(
    `SELECT reason, length(raw) AS n FROM dead_letter_events WHERE reason = 'too_large'`,
  );
  assert.ok(
    rows.length >= 1 && rows.every((r) => r.n <= 16 * 1024),
    'the dead letter keeps a bounded prefix',
  );
  // Deep nesting in a single-event body or an NDJSON line: refused, not a 500.
  for (const [type, payload] of [
    ['application/json', deep],
    ['application/x-ndjson', `${event('nd')}\n${deep}`],
  ] as const) {
    const r = await app.inject({
      method: 'POST',
      url: '/events',
      headers: { 'content-type': type },
      payload,
    });
    assert.ok(r.statusCode === 202 || r.statusCode === 400, `${type}: ${r.statusCode}`);
  }
});

test('Regression: a line whose event_type breaks String() is refused alone, the valid lines beside it kept', async () => {
  sink.sent.length = 0;
  const hostile = [
    `{"event_id":"h1","ts":"2026-01-01T00:00:00Z","event_type":{"toString":"x"},"stream_id":"s","user_id":"u"}`,
    `{"event_id":"h2","ts":"2026-01-01T00:00:00Z","event_type":${'['.repeat(6000)}${']'.repeat(6000)},"stream_id":"s","user_id":"u"}`,
  ];
  const response = await app.inject({
    method: 'POST',
    url: '/events',
    headers: { 'content-type': 'application/x-ndjson' },
    payload: [event('v1'), ...hostile, event('v2')].join('\n'),
  });
  assert.equal(response.statusCode, 202, response.body);
  const result = response.json();
  assert.equal(result.accepted, 2);
  assert.deepEqual(
    result.errors.map((e: { line: number; reason: string; detail: string }) => [e.line, e.reason]),
    [
      [2, 'invalid_event'],
      [3, 'invalid_event'],
    ],
  );
  assert.match(result.errors[0].detail, /event_type: an object is not one of/);
  assert.match(result.errors[1].detail, /event_type: an array is not one of/);
});

/** Sends raw bytes on a socket and collects what comes back until the server closes it. */
function rawExchange(bytes: string, holdOpenMs = 0): Promise<{ text: string; ms: number }> {
  const address = app.server.address() as { port: number };
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const socket = connect(address.port, '127.0.0.1');
    let text = '';
    socket.setEncoding('utf8');
    socket.on('data', (chunk) => {
      text += chunk;
    });
    socket.on('error', reject);
    socket.on('close', () => resolve({ text, ms: Date.now() - started }));
    socket.write(bytes);
    if (holdOpenMs === 0) return;
    setTimeout(() => socket.destroy(), holdOpenMs).unref();
  });
}

test('Regression: a stalled upload is answered 408 and closed once the request timeout passes', async () => {
  const { text, ms } = await rawExchange(
    'POST /events HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-ndjson\r\nContent-Length: 100000\r\n\r\n{"event_id"',
    10_000,
  );
  assert.match(text, /^HTTP\/1\.1 408 /);
  assert.match(text, /"error":"request_timeout"/);
  assert.ok(ms < 5_000, `closed after ${ms} ms`);
});

test('Regression: malformed HTTP gets a 400 in the JSON error shape', async () => {
  const { text } = await rawExchange('GET /health HTTP/1.1\r\nHost: x\r\nBad Header Line\r\n\r\n', 5_000);
  assert.match(text, /^HTTP\/1\.1 400 /);
  assert.match(text, /content-type: application\/json/i);
  assert.match(text, /"error":"bad_request"/);
});

test('framework errors (a bad URL encoding) are JSON with an error code', async () => {
  for (const url of ['/metrics%zz', '/%c0%af', '/health/%']) {
    const response = await app.inject({ url });
    assert.ok(response.statusCode >= 400 && response.statusCode < 500, `${url}: ${response.statusCode}`);
    assert.equal(typeof response.json().error, 'string', url);
    assert.equal(typeof response.json().message, 'string', url);
  }
});

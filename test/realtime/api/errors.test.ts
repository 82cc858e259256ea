/**
 * Every error the API answers: bad and unknown query parameters (400 naming the parameter and the
 * allowed values), unknown routes (404), a database that is down (503), an unexpected failure
 * (500 without internals), and the hardening headers on all of them.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import type pg from 'pg';
import { createTestDatabase, type TestDatabase } from '../../helpers/postgres.ts';
import { buildTestApi, deadPool } from './fixtures.ts';

let db: TestDatabase;
let app: FastifyInstance;

before(async () => {
  db = await createTestDatabase('api_errors');
  ({ app } = await buildTestApi({ pool: db.pool }));
});

after(async () => {
  await app?.close();
  await db?.drop();
});

async function badRequest(url: string) {
  const response = await app.inject({ method: 'GET', url });
  assert.equal(response.statusCode, 400, `${url}: ${response.body}`);
  assert.match(String(response.headers['content-type']), /^application\/json/);
  return response.json();
}

describe('bad query parameters: 400 naming the parameter and what it allows', () => {
  const cases: [url: string, parameter: string, allowed: string][] = [
    ['/metrics?minutes=0', 'minutes', '1..10080'],
    ['/metrics?minutes=10081', 'minutes', '1..10080'],
    ['/metrics?minutes=abc', 'minutes', '1..10080'],
    ['/metrics?minutes=1.5', 'minutes', '1..10080'],
    ['/metrics?minutes=', 'minutes', '1..10080'],
    ['/metrics?minutes=-5', 'minutes', '1..10080'],
    ['/metrics?limit=0', 'limit', '1..1000'],
    ['/metrics?limit=1001', 'limit', '1..1000'],
    ['/metrics?limit=ten', 'limit', '1..1000'],
    ['/metrics?offset=-1', 'offset', '0..100000'],
    ['/metrics?offset=100001', 'offset', '0..100000'],
    ['/metrics?stream_id=', 'stream_id', '1..256 characters, no NUL'],
    [`/metrics?stream_id=${'x'.repeat(257)}`, 'stream_id', '1..256 characters, no NUL'],
    ['/metrics?stream_id=a%00b', 'stream_id', '1..256 characters, no NUL'],
    ['/metrics/latest?stream_id=', 'stream_id', '1..256 characters, no NUL'],
    ['/metrics/history?minutes=0', 'minutes', '1..10080'],
    ['/metrics/history?limit=10001', 'limit', '1..10000'],
    ['/streams/top?by=viewers', 'by', 'donations_usd, chat_messages, active_viewers'],
    ['/streams/top?by=', 'by', 'donations_usd, chat_messages, active_viewers'],
    ['/streams/top?n=0', 'n', '1..100'],
    ['/streams/top?n=101', 'n', '1..100'],
    ['/streams/top?n=x', 'n', '1..100'],
    ['/streams/top?minutes=99999', 'minutes', '1..10080'],
    ['/state?limit=0', 'limit', '1..1000'],
    ['/state?offset=x', 'offset', '0..100000'],
  ];
  for (const [url, parameter, allowed] of cases) {
    test(url.length > 80 ? `${url.slice(0, 77)}...` : url, async () => {
      const body = await badRequest(url);
      assert.equal(body.error, 'invalid_parameter');
      assert.equal(body.parameter, parameter);
      assert.equal(body.allowed, allowed);
      assert.match(body.message, new RegExp(`^${parameter} must be `));
    });
  }

  test('the message says what was given and what is expected', async () => {
    assert.deepEqual(await badRequest('/metrics?minutes=abc'), {
      error: 'invalid_parameter',
      parameter: 'minutes',
      message: 'minutes must be an integer from 1 to 10080, got "abc"',
      allowed: '1..10080',
    });
    assert.equal(
      (await badRequest('/streams/top?by=viewers')).message,
      'by must be one of donations_usd, chat_messages, active_viewers, got "viewers"',
    );
  });

  test('a parameter given twice is refused', async () => {
    const body = await badRequest('/metrics?minutes=5&minutes=6');
    assert.equal(body.parameter, 'minutes');
    assert.match(body.message, /more than once/);
  });

  test('unknown parameters are refused by name, with the known ones listed', async () => {
    const body = await badRequest('/metrics?minutez=5&limit=2&foo=1');
    assert.equal(body.error, 'unknown_parameter');
    assert.equal(body.parameter, 'minutez');
    assert.equal(body.message, 'unknown query parameters "minutez", "foo"');
    assert.equal(body.allowed, 'minutes, limit, offset, cursor, stream_id');
    assert.equal((await badRequest('/streams/top?stream_id=a')).allowed, 'minutes, by, n');
    assert.equal((await badRequest('/health?verbose=1')).allowed, 'no query parameters');
    assert.equal((await badRequest('/prometheus?x=1')).parameter, 'x');
  });

  test('valid edge values are accepted', async () => {
    for (const url of [
      '/metrics?minutes=1&limit=1&offset=0',
      '/metrics?minutes=10080&limit=1000&offset=100000',
      `/metrics?stream_id=${'x'.repeat(256)}`,
      '/metrics/history?limit=10000',
      '/streams/top?minutes=10080&by=active_viewers&n=100',
      '/streams/top?by=chat_messages&n=1',
      '/state?limit=1000&offset=100000',
      '/metrics/', // a trailing slash is the same route
    ]) {
      const response = await app.inject({ url });
      assert.equal(response.statusCode, 200, `${url}: ${response.body}`);
    }
  });
});

describe('unknown routes', () => {
  test('404 JSON naming the method and path', async () => {
    const response = await app.inject({ url: '/nope?x=1' });
    assert.equal(response.statusCode, 404);
    assert.deepEqual(response.json(), { error: 'not_found', message: 'no route GET /nope' });
    // A path that exists with other methods is 405 with Allow (issue 11), not 404.
    const wrongMethod = await app.inject({ method: 'DELETE', url: '/metrics' });
    assert.equal(wrongMethod.statusCode, 405);
    assert.equal(wrongMethod.json().error, 'method_not_allowed');
    assert.equal(wrongMethod.headers.allow, 'GET, HEAD');
  });
});

describe('hardening', () => {
  test('safe headers on every response and no CORS', async () => {
    for (const [method, url] of [
      ['GET', '/metrics'],
      ['GET', '/nope'],
      ['GET', '/metrics?minutes=0'],
      ['OPTIONS', '/metrics'],
    ] as const) {
      const response = await app.inject({ method, url, headers: { origin: 'https://evil.example' } });
      assert.equal(response.headers['x-content-type-options'], 'nosniff', url);
      assert.equal(response.headers['x-frame-options'], 'DENY', url);
      assert.equal(response.headers['cache-control'], 'no-store', url);
      assert.ok(String(response.headers['content-security-policy']).includes("default-src 'none'"), url);
      assert.equal(response.headers['access-control-allow-origin'], undefined, url);
    }
  });
});

describe('failures', () => {
  test('a database that is down gives 503 with Retry-After on every read endpoint', async () => {
    const pool = await deadPool();
    const { app: down } = await buildTestApi({ pool });
    try {
      for (const url of ['/metrics', '/metrics/latest', '/metrics/history', '/streams/top', '/state']) {
        const response = await down.inject({ url });
        assert.equal(response.statusCode, 503, `${url}: ${response.body}`);
        assert.equal(response.json().error, 'database_unavailable');
        assert.equal(response.headers['retry-after'], '5');
      }
    } finally {
      await down.close();
      await pool.end();
    }
  });

  test('an unexpected error gives a bare 500: no message, no stack', async () => {
    const secret = 'relation "secret_internal_table" does not exist';
    const broken = {
      query: async () => {
        throw Object.assign(new Error(secret), { code: '42P01' });
      },
    } as unknown as pg.Pool;
    const { app: failing } = await buildTestApi({ pool: broken });
    try {
      const response = await failing.inject({ url: '/metrics/latest' });
      assert.equal(response.statusCode, 500);
      const body = response.json();
      assert.equal(body.error, 'internal');
      assert.ok(!response.body.includes('secret_internal_table'), 'no internal message');
      assert.ok(!response.body.includes('at '), 'no stack');
      assert.equal(typeof body.request_id, 'string');
    } finally {
      await failing.close();
    }
  });
});

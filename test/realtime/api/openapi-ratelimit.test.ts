import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { Registry } from 'prom-client';
import type { FastifyInstance } from 'fastify';
import { buildApi } from '../../../src/realtime/api/index.ts';
import type { OutgoingMessage, Sink } from '../../../src/bus/types.ts';
import { silentLogger } from '../../../src/telemetry/logger.ts';
import { createTestDatabase, type TestDatabase } from '../../helpers/postgres.ts';

let db: TestDatabase;
let app: FastifyInstance;
const sent: OutgoingMessage[] = [];
const sink: Sink = {
  send: async (_topic, messages) => {
    sent.push(...messages);
  },
  close: async () => {},
};

before(async () => {
  db = await createTestDatabase('openapi');
  app = await buildApi({
    pool: db.pool,
    sink,
    topic: 'stream.events',
    registry: new Registry(),
    logger: silentLogger(),
    cacheTtlMs: 0,
    ingestRateLimit: 3,
  });
  await app.ready();
});

after(async () => {
  await app.close();
  await db.drop();
});

test('the OpenAPI document lists every endpoint with its parameters and errors', async () => {
  const res = await app.inject('/openapi.json');
  assert.equal(res.statusCode, 200);
  const doc = res.json() as {
    openapi: string;
    paths: Record<
      string,
      Record<string, { parameters?: { name: string }[]; responses: Record<string, unknown> }>
    >;
  };
  assert.match(doc.openapi, /^3\./);
  for (const path of [
    '/health',
    '/metrics',
    '/metrics/latest',
    '/metrics/history',
    '/streams/top',
    '/state',
    '/prometheus',
    '/events',
  ]) {
    assert.ok(doc.paths[path], `${path} is documented`);
  }
  const top = doc.paths['/streams/top']!.get!;
  assert.deepEqual(top.parameters?.map((p) => p.name).sort(), ['by', 'minutes', 'n']);
  assert.ok(top.responses['400'], '/streams/top documents its 400');
  assert.ok(doc.paths['/events']!.post!.responses['202']);
});

test('the docs page is served with its own CSP', async () => {
  const res = await app.inject('/docs/');
  assert.equal(res.statusCode, 200);
  assert.match(res.headers['content-type'] as string, /html/);
  assert.match(String(res.headers['content-security-policy']), /script-src/);
});

test('POST /events is rate limited per client with a JSON 429', async () => {
  const event = JSON.stringify({
    event_id: 'rl',
    ts: new Date().toISOString(),
    event_type: 'chat_message',
    stream_id: 's',
    user_id: 'u',
  });
  // The limit is per client address and per second: five requests that took longer than the
  // window (a loaded machine) prove nothing, so they are tried again from a new address.
  const deadline = Date.now() + 30_000;
  let statuses: number[] = [];
  for (let client = 1; ; client++) {
    statuses = [];
    const started = performance.now();
    for (let i = 0; i < 5; i++) {
      const res = await app.inject({
        method: 'POST',
        url: '/events',
        payload: event,
        headers: { 'content-type': 'application/json' },
        remoteAddress: `127.0.1.${client}`,
      });
      statuses.push(res.statusCode);
      if (res.statusCode === 429) {
        assert.equal(res.json().error, 'too_many_requests');
        assert.match(res.json().message, /retry after/);
        assert.ok(res.headers['retry-after']);
      }
    }
    if (performance.now() - started < 1_000) break;
    assert.ok(Date.now() < deadline, `no try of five requests fit in one second: ${statuses}`);
  }
  assert.deepEqual(statuses, [202, 202, 202, 429, 429]);
  const read = await app.inject('/metrics');
  assert.equal(read.statusCode, 200, 'reads are not limited');
});

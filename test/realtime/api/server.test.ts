/** End to end: the API listening on a real port, every endpoint fetched over HTTP. */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import type {
  ErrorBody,
  Health,
  IngestResult,
  MetricsPage,
  StatePage,
  TopPage,
} from '../../../src/realtime/api/index.ts';
import { createTestDatabase, type TestDatabase } from '../../helpers/postgres.ts';
import { addMinutes, buildTestApi, insertWindows, RecordingSink } from './fixtures.ts';

const T0 = '2024-06-01T08:30:00.000Z';
let db: TestDatabase;
let app: FastifyInstance;
let base: string;
const sink = new RecordingSink();

before(async () => {
  db = await createTestDatabase('api_server');
  await insertWindows(
    db.pool,
    [0, -1, -2].flatMap((m) =>
      ['s1', 's2'].map((stream_id, i) => ({
        window_start: addMinutes(T0, m),
        stream_id,
        active_viewers: 10 * (i + 1) + m,
        chat_messages: 3 + i,
        donations_usd: i === 0 ? 2.5 : 0,
        donation_count: i === 0 ? 1 : 0,
        viewer_joins: 1,
        viewer_leaves: 0,
        events: 5,
        is_final: m < 0,
      })),
    ),
  );
  await db.pool.query(`INSERT INTO stream_state VALUES ('s1', 10, $1, $1), ('s2', 20, $1, $1)`, [T0]);
  ({ app } = await buildTestApi({ pool: db.pool, sink, ingestToken: 'tok', cacheTtlMs: 250 }));
  await app.listen({ port: 0, host: '127.0.0.1' });
  const address = app.server.address();
  assert.ok(address !== null && typeof address === 'object');
  base = `http://127.0.0.1:${address.port}`;
});

after(async () => {
  await app?.close();
  await db?.drop();
});

async function getJson<T>(path: string, status = 200): Promise<T> {
  const response = await fetch(base + path);
  assert.equal(response.status, status, `${path}: ${await response.clone().text()}`);
  assert.match(response.headers.get('content-type') ?? '', /^application\/json/);
  assert.equal(response.headers.get('x-content-type-options'), 'nosniff');
  return (await response.json()) as T;
}

test('every read endpoint over HTTP', async () => {
  assert.equal((await getJson<Health>('/health')).ok, true);
  const metrics = await getJson<MetricsPage>('/metrics?minutes=10&limit=5');
  assert.equal(metrics.latest_window_start, T0);
  assert.equal(metrics.rows.length, 5);
  assert.equal(metrics.next_offset, 5);
  const latest = await getJson<MetricsPage>('/metrics/latest');
  assert.deepEqual(
    latest.rows.map((r) => r.stream_id),
    ['s1', 's2'],
  );
  const one = await getJson<MetricsPage>('/metrics/latest?stream_id=s2');
  assert.equal(one.rows[0]?.active_viewers, 20);
  const history = await getJson<MetricsPage>('/metrics/history?minutes=10&stream_id=s1');
  assert.deepEqual(
    history.rows.map((r) => r.window_start),
    [addMinutes(T0, -2), addMinutes(T0, -1), T0],
  );
  const top = await getJson<TopPage>('/streams/top?minutes=10&by=donations_usd&n=5');
  assert.deepEqual(top.rows[0], {
    stream_id: 's1',
    donations_usd: 7.5,
    chat_messages: 9,
    active_viewers: 10,
    windows: 3,
  });
  const state = await getJson<StatePage>('/state');
  assert.equal(state.total, 2);
});

test('parameter errors and unknown routes over HTTP', async () => {
  const minutes = await getJson<ErrorBody>('/metrics?minutes=0', 400);
  assert.equal(minutes.parameter, 'minutes');
  assert.equal(minutes.allowed, '1..10080');
  const by = await getJson<ErrorBody>('/streams/top?by=nope', 400);
  assert.equal(by.allowed, 'donations_usd, chat_messages, active_viewers');
  const unknown = await getJson<ErrorBody>('/state?sort=desc', 400);
  assert.equal(unknown.error, 'unknown_parameter');
  assert.equal((await getJson<ErrorBody>('/nope', 404)).error, 'not_found');
});

test('POST /events over HTTP, with the token', async () => {
  const body = JSON.stringify({
    event_id: 'http-1',
    ts: '2024-06-01T08:30:05Z',
    event_type: 'donation',
    stream_id: 's1',
    user_id: 'u1',
    amount_usd: 25,
  });
  const denied = await fetch(`${base}/events`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body,
  });
  assert.equal(denied.status, 401);
  const accepted = await fetch(`${base}/events`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-ndjson', authorization: 'Bearer tok' },
    body: `${body}\nnot json\n`,
  });
  assert.equal(accepted.status, 202);
  const result = (await accepted.json()) as IngestResult;
  assert.equal(result.accepted, 1);
  assert.equal(result.rejected, 1);
  assert.equal(result.errors.length, 1);
  assert.equal(result.errors[0]?.line, 2);
  assert.equal(result.errors[0]?.reason, 'invalid_json');
  assert.equal(typeof result.errors[0]?.detail, 'string');
  assert.equal(sink.messages.length, 1);
  assert.equal(sink.messages[0]?.key, 's1');
});

test('/prometheus over HTTP counts the requests above by route pattern', async () => {
  const response = await fetch(`${base}/prometheus`);
  assert.equal(response.status, 200);
  assert.match(response.headers.get('content-type') ?? '', /^text\/plain/);
  const text = await response.text();
  assert.match(text, /^api_http_requests_total\{method="GET",path="\/metrics\/latest",status="200"\} 2$/m);
  assert.match(text, /^api_http_requests_total\{method="GET",path="unmatched",status="404"\} 1$/m);
  assert.match(text, /^api_http_requests_total\{method="POST",path="\/events",status="401"\} 1$/m);
  assert.match(text, /^api_db_ok 1$/m);
  for (const name of [
    'api_stream_metrics_rows_recent',
    'api_donation_rows_recent',
    'api_latest_window_age_seconds',
  ]) {
    assert.match(text, new RegExp(`^${name} `, 'm'));
  }
});

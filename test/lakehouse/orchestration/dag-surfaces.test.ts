/**
 * The control surfaces against a running stack (a scheduler and a worker on the database):
 * POST /dag/runs → 202 and the run executes; GET /dag/runs pages; GET /dag/runs/:id has tasks and
 * attempts; bad input is a 400 naming the parameter. Then the CLI as a user runs it:
 * `rtsa dag run --date D` follows the run to its end (exit 0), `rtsa dag runs --json`,
 * `rtsa dag status`, `rtsa dag backfill --detach`, and a bad date (exit 1, what to do).
 * With an ingest token, POST /dag/runs needs the bearer token (401 without or with a wrong one);
 * the GETs stay open.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { Registry } from 'prom-client';
import { dagRoutes, type RunRow } from '../../../src/lakehouse/orchestration/index.ts';
import { buildApi } from '../../../src/realtime/api/index.ts';
import { silentLogger } from '../../../src/telemetry/logger.ts';
import { createTestDatabase, type TestDatabase } from '../../helpers/postgres.ts';
import { cleanEnv, runRtsa } from '../../helpers/rtsa-child.ts';
import { okTasks, orchestrator, waitForRun } from './dag-harness.ts';

let db: TestDatabase;
let app: FastifyInstance;
let stack: ReturnType<typeof orchestrator>;
const calls: string[] = [];

before(async () => {
  db = await createTestDatabase('dag_api');
  stack = orchestrator(db, okTasks(calls));
  await stack.start();
  app = await buildApi({
    pool: db.pool,
    sink: { send: async () => {}, close: async () => {} },
    topic: 'stream.events',
    registry: new Registry(),
    logger: silentLogger(),
  });
  await app.register(dagRoutes, { pool: db.pool, slaMs: 3_600_000 });
  await app.ready();
});
after(async () => {
  await app?.close();
  await stack?.stop();
  await db?.drop();
});

test('POST /dag/runs queues a run that executes; GET pages and details; bad input is a 400', {
  timeout: 120_000,
}, async () => {
  const posted = await app.inject({ method: 'POST', url: '/dag/runs', payload: { date: '2025-11-02' } });
  assert.equal(posted.statusCode, 202, posted.body);
  const { run_id, logical_date, url } = posted.json();
  assert.equal(logical_date, '2025-11-02');
  assert.equal(url, `/dag/runs/${run_id}`);
  // The same date again while it is active: 409 with the active run's id.
  const again = await app.inject({ method: 'POST', url: '/dag/runs', payload: { date: '2025-11-02' } });
  if (again.statusCode === 409) {
    // An error body like every other (error, message), with the active run.
    assert.deepEqual(
      [again.json().error, again.json().run_id, again.json().url],
      ['run_active', run_id, `/dag/runs/${run_id}`],
    );
    assert.match(again.json().message, new RegExp(`already (queued|running): run ${run_id}`));
  } else assert.equal(again.statusCode, 202, 'the first run had already finished');
  await waitForRun(db.pool, run_id, (r) => r.status === 'succeeded');
  assert.ok(calls.includes('qualityCheck:2025-11-02:1'));

  const detail = await app.inject({ method: 'GET', url: `/dag/runs/${run_id}` });
  assert.equal(detail.statusCode, 200);
  const body = detail.json();
  assert.equal(body.status, 'succeeded');
  assert.deepEqual(
    body.tasks.map((t: { task: string; attempt_history: unknown[] }) => [t.task, t.attempt_history.length]),
    [
      ['wait_for_silver', 1],
      ['warehouse_load', 1],
      ['marts_build', 1],
      ['marts_test', 1],
      ['quality_check', 1],
    ],
  );

  for (const date of ['2025-11-03', '2025-11-04']) {
    assert.equal((await app.inject({ method: 'POST', url: '/dag/runs', payload: { date } })).statusCode, 202);
  }
  const page1 = (await app.inject({ method: 'GET', url: '/dag/runs?limit=2' })).json();
  assert.equal(page1.runs.length, 2);
  assert.ok(page1.next !== null);
  const page2 = (await app.inject({ method: 'GET', url: `/dag/runs?limit=2&before=${page1.next}` })).json();
  const ids = [...page1.runs, ...page2.runs].map((r: RunRow) => r.run_id);
  assert.deepEqual(
    ids,
    [...ids].sort((a, b) => b - a),
    'newest first',
  );
  assert.equal(new Set(ids).size, ids.length, 'pages do not overlap');

  const bad = await app.inject({ method: 'POST', url: '/dag/runs', payload: { date: '2025-13-45' } });
  assert.equal(bad.statusCode, 400);
  assert.equal(bad.json().parameter, 'date');
  const future = await app.inject({ method: 'POST', url: '/dag/runs', payload: { date: '2199-01-01' } });
  assert.equal(future.statusCode, 409, 'a day that has not begun cannot run yet');
  assert.equal(future.json().error, 'date_not_begun');
  assert.match(future.json().message, /after today/);
  // Today's run could only wait for midnight, holding the one run slot and every run behind it.
  const todayUtc = new Date().toISOString().slice(0, 10);
  const today = await app.inject({ method: 'POST', url: '/dag/runs', payload: { date: todayUtc } });
  assert.equal(today.statusCode, 409, today.body);
  assert.equal(today.json().error, 'date_not_ended');
  assert.match(today.json().message, /is today .* run it after midnight UTC/);
  const feb30 = await app.inject({ method: 'POST', url: '/dag/runs', payload: { date: '2024-02-30' } });
  assert.equal(feb30.statusCode, 400, 'the calendar is checked');
  // Days outside the event times' range (year 0 made Postgres fail: a 500).
  for (const date of ['0000-01-01', '1969-12-31', '2200-01-01']) {
    const out = await app.inject({ method: 'POST', url: '/dag/runs', payload: { date } });
    assert.equal(out.statusCode, 400, date);
    assert.equal(out.json().parameter, 'date', out.body);
    // It says the range, not a pattern nor "a calendar date" (1969-12-31 is one).
    assert.equal(out.json().allowed, 'a date YYYY-MM-DD from 1970-01-01 to 2199-12-31', out.body);
    assert.match(out.json().message, /^date must be a date YYYY-MM-DD from 1970-01-01 to 2199-12-31, got /);
  }
  // A body nested 5,000 deep: a 400, not a crash of the process (its error message recursed).
  for (const depth of [5_000, 100_000]) {
    const deep = await app.inject({
      method: 'POST',
      url: '/dag/runs',
      headers: { 'content-type': 'application/json' },
      payload: `${'['.repeat(depth)}${']'.repeat(depth)}`,
    });
    assert.equal(deep.statusCode, 400, `depth ${depth}`);
    const nested = await app.inject({
      method: 'POST',
      url: '/dag/runs',
      headers: { 'content-type': 'application/json' },
      payload: `{"date":${'['.repeat(depth)}${']'.repeat(depth)}}`,
    });
    assert.equal(nested.statusCode, 400, `date nested ${depth} deep`);
  }
  const huge = await app.inject({ method: 'GET', url: '/dag/runs?before=428597011179694346974789632' });
  assert.equal(huge.statusCode, 400, 'before beyond a safe integer is refused by the schema');
  for (const [type, payload] of [
    ['application/json', '[]'],
    ['application/json', '"2025-11-02"'],
    ['text/plain', 'date=2025-11-02'],
  ]) {
    const wrong = await app.inject({
      method: 'POST',
      url: '/dag/runs',
      headers: { 'content-type': type },
      payload,
    });
    assert.equal(wrong.statusCode, 400, `${type} ${payload}`);
    assert.match(
      wrong.json().message,
      /^the body must be a JSON object with "date", got /,
      `${type} ${payload}`,
    );
  }
  const unknown = await app.inject({
    method: 'POST',
    url: '/dag/runs',
    payload: { day: '2025-11-02', x: 1 },
  });
  assert.equal(unknown.statusCode, 400);
  assert.equal(unknown.json().message, 'unknown body fields "day", "x"');
  // JSON sent as text: the fix is named. A type no parser takes: this route's types, not /events'.
  const text = await app.inject({
    method: 'POST',
    url: '/dag/runs',
    headers: { 'content-type': 'text/plain' },
    payload: '{"date":"2025-11-02"}',
  });
  assert.match(text.json().message, /got text: send it with content-type application\/json$/);
  for (const type of ['application/x-ndjson', 'application/x-www-form-urlencoded']) {
    const refused = await app.inject({
      method: 'POST',
      url: '/dag/runs',
      headers: { 'content-type': type },
      payload: '{}',
    });
    assert.equal(refused.statusCode, 415, type);
    assert.equal(refused.json().allowed, 'application/json', type);
    assert.doesNotMatch(refused.json().message, /event/, type);
  }
  assert.equal((await app.inject({ method: 'GET', url: '/dag/runs/999999' })).statusCode, 404);
  const hugeId = await app.inject({ method: 'GET', url: '/dag/runs/99999999999999999999' });
  assert.equal(
    hugeId.statusCode,
    400,
    `an id past bigint is refused by the schema, not a 500: ${hugeId.body}`,
  );
  assert.equal(hugeId.json().parameter, 'id');
  assert.equal((await app.inject({ method: 'GET', url: '/dag/runs?limit=0' })).statusCode, 400);
  // The body is required by the OpenAPI document (schemathesis holds us to it): {} for yesterday.
  const none = await app.inject({ method: 'POST', url: '/dag/runs' });
  assert.equal(none.statusCode, 400);
  assert.equal(none.json().message, 'the body must be a JSON object with "date", got none');
  const badStatus = await app.inject({ method: 'GET', url: '/dag/runs?status=bogus' });
  assert.equal(badStatus.statusCode, 400);
  assert.equal(badStatus.json().parameter, 'status');
  assert.match(badStatus.json().allowed, /queued, running, succeeded, failed, timed_out/);
});

test('the CLI against the running stack: run, runs, status, backfill, a bad date', {
  timeout: 180_000,
}, async () => {
  const env = cleanEnv({ DATABASE_URL: db.url, LOG_LEVEL: 'warn' });
  const ran = await runRtsa(['dag', 'run', '--date', '2025-11-10'], { env });
  assert.equal(ran.code, 0, ran.out);
  assert.match(ran.out, /queued run \d+ of analytics_pipeline for 2025-11-10/);
  assert.match(ran.out, /quality_check succeeded/);
  assert.match(ran.out, /\(2025-11-10\): succeeded/);
  assert.doesNotMatch(ran.out, /this process runs the DAG/, 'the running stack executed it');

  const runs = await runRtsa(['dag', 'runs', '--n', '3', '--json'], { env });
  assert.equal(runs.code, 0, runs.out);
  const listed = JSON.parse(runs.out) as RunRow[];
  assert.equal(listed.length, 3);
  assert.equal(listed[0]!.logical_date, '2025-11-10');
  assert.equal(listed[0]!.status, 'succeeded');

  const status = await runRtsa(['dag', 'status'], { env });
  assert.equal(status.code, 0, status.out);
  assert.match(status.out, /schedulers alive: \S+/);
  assert.match(status.out, /2025-11-10/);

  const backfill = await runRtsa(
    ['dag', 'backfill', '--from', '2025-11-11', '--to', '2025-11-13', '--detach'],
    { env },
  );
  assert.equal(backfill.code, 0, backfill.out);
  assert.equal(backfill.out.match(/queued run \d+/g)?.length, 3);

  const notEnded = await runRtsa(['dag', 'run', '--date', new Date().toISOString().slice(0, 10)], { env });
  assert.equal(notEnded.code, 1);
  assert.match(notEnded.out, /--date is today .*: a run processes a whole day/);
  const bad = await runRtsa(['dag', 'run', '--date', '2025-02-30'], { env });
  assert.equal(bad.code, 1);
  assert.match(bad.out, /--date is .*2025-02-30.*: expected a date YYYY-MM-DD/);
});

test('with an ingest token: POST /dag/runs is 401 without or with a wrong bearer, 202 with it; GETs stay open', async () => {
  const guarded = await buildApi({
    pool: db.pool,
    sink: { send: async () => {}, close: async () => {} },
    topic: 'stream.events',
    registry: new Registry(),
    logger: silentLogger(),
  });
  await guarded.register(dagRoutes, { pool: db.pool, slaMs: 3_600_000, ingestToken: 'dag-s3cret' });
  await guarded.ready();
  try {
    const before = (await db.pool.query('SELECT count(*)::int AS n FROM orchestration.runs')).rows[0].n;
    const payload = { date: '2025-10-01' };
    const missing = await guarded.inject({ method: 'POST', url: '/dag/runs', payload });
    assert.equal(missing.statusCode, 401);
    assert.equal(missing.json().error, 'unauthorized');
    assert.match(
      missing.json().message,
      /POST \/dag\/runs needs Authorization: Bearer <token>.*RTSA_INGEST_TOKEN/,
    );
    assert.equal(missing.headers['www-authenticate'], 'Bearer realm="rtsa"');
    for (const authorization of [
      'Bearer wrong',
      'Bearer dag-s3cret-and-more',
      'Basic dag-s3cret',
      'dag-s3cret',
    ]) {
      const wrong = await guarded.inject({
        method: 'POST',
        url: '/dag/runs',
        payload,
        headers: { authorization },
      });
      assert.equal(wrong.statusCode, 401, authorization);
      assert.equal(wrong.json().error, 'unauthorized');
    }
    const after = (await db.pool.query('SELECT count(*)::int AS n FROM orchestration.runs')).rows[0].n;
    assert.equal(after, before, 'a refused request queues nothing');
    const right = await guarded.inject({
      method: 'POST',
      url: '/dag/runs',
      payload,
      headers: { authorization: 'Bearer dag-s3cret' },
    });
    assert.equal(right.statusCode, 202, right.body);
    assert.equal(right.json().logical_date, '2025-10-01');
    const list = await guarded.inject({ method: 'GET', url: '/dag/runs?limit=1' });
    assert.equal(list.statusCode, 200, 'GET /dag/runs needs no token');
    const one = await guarded.inject({ method: 'GET', url: `/dag/runs/${right.json().run_id}` });
    assert.equal(one.statusCode, 200, 'GET /dag/runs/:id needs no token');
    await waitForRun(db.pool, right.json().run_id, (r) => r.status === 'succeeded');
  } finally {
    await guarded.close();
  }
  // Without a token set (the app of the tests above), no header is needed.
  const open = await app.inject({ method: 'POST', url: '/dag/runs', payload: { date: '2025-10-02' } });
  assert.equal(open.statusCode, 202, open.body);
});

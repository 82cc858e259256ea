/** The pure parts of smoke and doctor: where they look, how they read what they find. */
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { loadConfig } from '../../src/config/index.ts';
import { ConfigError } from '../../src/errors.ts';
import { findEmbeddedDatabase } from '../../src/ops/embedded-database.ts';
import { hintsFor } from '../../src/ops/hints.ts';
import { parsePrometheusText } from '../../src/ops/prometheus-text.ts';
import { parseCommerceEvent } from '../../src/events/commerce-event.ts';
import { doctorLayer, lakehouseHints, smokePurchase } from '../../src/ops/lakehouse-checks.ts';
import { lagOf, processorsOf } from '../../src/ops/realtime-checks.ts';
import { apiUrlOf, resolveTarget } from '../../src/ops/stack-target.ts';

const dirs: string[] = [];
after(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

const configOf = (args: string[], env: NodeJS.ProcessEnv = {}) => loadConfig('smoke', args, env).config;

test('the API URL: RTSA_API_URL first, else host:port with listen-all addresses made connectable', () => {
  assert.equal(apiUrlOf(configOf([])), 'http://127.0.0.1:8000');
  assert.equal(apiUrlOf(configOf(['--host', '0.0.0.0', '--port', '9000'])), 'http://127.0.0.1:9000');
  assert.equal(apiUrlOf(configOf(['--host', '::1'])), 'http://[::1]:8000');
  assert.equal(apiUrlOf(configOf([], { RTSA_API_URL: 'http://api:8000/' })), 'http://api:8000');
  assert.throws(() => apiUrlOf(configOf(['--api-url', 'api:8000'])), ConfigError);
  assert.throws(() => apiUrlOf(configOf(['--api-url', 'ftp://x'])), /use http/);
});

test('the embedded Postgres is found through postmaster.pid, never started', async () => {
  const dir = await mkdtemp(path.join(tmpdir(), 'rtsa-ops-parts-'));
  dirs.push(dir);
  assert.equal((await findEmbeddedDatabase(dir)).state, 'absent');
  const pgDir = path.join(dir, 'postgres');
  await mkdir(pgDir);
  await writeFile(path.join(pgDir, 'PG_VERSION'), '17\n');
  assert.equal((await findEmbeddedDatabase(dir)).state, 'stopped', 'no pid file');
  await writeFile(path.join(pgDir, 'postmaster.pid'), `999999999\n${pgDir}\n0\n5544\n`);
  assert.equal((await findEmbeddedDatabase(dir)).state, 'stopped', 'a stale pid file');
  await writeFile(path.join(pgDir, 'postmaster.pid'), `${process.pid}\n${pgDir}\n0\n5544\n`);
  const found = await findEmbeddedDatabase(dir);
  assert.equal(found.state, 'running');
  assert.equal(found.state === 'running' && found.url, 'postgres://rtsa:rtsa@127.0.0.1:5544/rtsa');

  const target = await resolveTarget(configOf(['--data-dir', dir]));
  assert.equal(target.database.kind, 'embedded');
  assert.equal(target.distributed, false);
  const withUrl = await resolveTarget(configOf(['--database-url', 'postgres://u:secret@db:5432/x']));
  assert.equal(withUrl.database.kind, 'url');
  assert.doesNotMatch(withUrl.database.label, /secret/, 'the password is never printed');
});

test('hints speak of make for a Kafka stack and of npm start for the embedded one', async () => {
  const kafka = configOf(['--kafka-brokers', 'kafka:9092', '--database-url', 'postgres://u:p@db/x']);
  const embedded = configOf(['--data-dir', '/nonexistent/rtsa']);
  const k = hintsFor(kafka, await resolveTarget(kafka));
  const e = hintsFor(embedded, await resolveTarget(embedded));
  assert.match(k.apiDown, /make up/);
  assert.match(k.databaseDown, /make logs s=postgres/);
  assert.match(e.apiDown, /npm start/);
  assert.match(e.noTopic, /\/nonexistent\/rtsa\/log/);
});

test('Prometheus text: families from # TYPE, plain samples as numbers', () => {
  const parsed = parsePrometheusText(
    [
      '# HELP api_db_ok 1 when the database answered.',
      '# TYPE api_db_ok gauge',
      'api_db_ok 1',
      '# TYPE api_http_request_duration_seconds histogram',
      'api_http_request_duration_seconds_bucket{le="0.005",method="GET",path="/health"} 3',
      '# TYPE api_stream_metrics_rows_recent gauge',
      'api_stream_metrics_rows_recent NaN',
      '',
    ].join('\n'),
  );
  assert.equal(parsed.types.get('api_http_request_duration_seconds'), 'histogram');
  assert.equal(parsed.values.get('api_db_ok'), 1);
  assert.ok(Number.isNaN(parsed.values.get('api_stream_metrics_rows_recent')));
  assert.equal(
    parsed.values.has('api_http_request_duration_seconds_bucket'),
    false,
    'labelled samples are skipped',
  );
});

test('lag: end of the log minus the committed offset, never negative', () => {
  const position = (partition: number, committedOffset: number) => ({
    group: 'g',
    partition,
    owner: 'h:1',
    epoch: 1,
    committedOffset,
    maxEventMs: null,
    commitAgeSeconds: 1,
  });
  const ends = new Map([
    [0, 100],
    [1, 50],
  ]);
  assert.equal(lagOf([position(0, 90), position(1, 50)], ends), 10);
  assert.equal(lagOf([position(0, 120)], ends), 0, 'a read-only view may lag the commit');
});

test('doctor on a lake layer: stuck only while records wait, lagging past 10,000, never run with events', async () => {
  const hints = lakehouseHints(await resolveTarget(configOf(['--kafka-brokers', 'kafka:9092'])));
  const verdict = (
    positions: { partition: number; committedOffset: number; ageSeconds: number }[],
    ends: Map<number, number> | undefined,
  ) => {
    const found: { status: string; detail: string; hint?: string | undefined }[] = [];
    doctorLayer('silver', positions, ends, hints, (f) => found.push(f));
    assert.equal(found.length, 1);
    return found[0]!;
  };
  const ends = new Map([
    [0, 100],
    [1, 50],
  ]);
  // Caught up, last commit long ago: an idle topic, not a fault.
  const idle = verdict(
    [
      { partition: 0, committedOffset: 100, ageSeconds: 900 },
      { partition: 1, committedOffset: 50, ageSeconds: 900 },
    ],
    ends,
  );
  assert.equal(idle.status, 'pass');
  assert.match(idle.detail, /2 partitions, last commit 15\.0 min ago, lag 0 records/);
  // Records wait and nothing committed for over 2 minutes: stuck.
  const stuck = verdict(
    [
      { partition: 0, committedOffset: 90, ageSeconds: 300 },
      { partition: 1, committedOffset: 50, ageSeconds: 130 },
    ],
    ends,
  );
  assert.equal(stuck.status, 'fail');
  assert.match(stuck.detail, /lag 10 records: records wait and nothing was committed for over 120 s/);
  assert.equal(stuck.hint, hints.lakeStuck);
  // Committing, but far behind.
  const behind = verdict([{ partition: 0, committedOffset: 0, ageSeconds: 1 }], new Map([[0, 20_000]]));
  assert.equal(behind.status, 'warn');
  assert.match(behind.detail, /lag 20,000 records: behind/);
  // Never committed, with events on the topic: the writer never ran.
  const never = verdict([], ends);
  assert.equal(never.status, 'fail');
  assert.match(never.detail, /150 commerce events on the topic, none committed: the silver writer never ran/);
  assert.match(never.hint ?? '', /docker compose up -d lake-bronze lake-silver/);
  // End offsets unknown: no lag claimed.
  assert.equal(verdict([{ partition: 0, committedOffset: 5, ageSeconds: 1 }], undefined).status, 'pass');
});

test('the smoke purchase: a valid commerce purchase of a user of its own, named by its UTC day and run', () => {
  const at = Date.parse('2026-11-30T23:59:59.500Z');
  const p = smokePurchase(at, 'a1b2c3d4');
  assert.equal(p.date, '2026-11-30');
  assert.equal(p.userId, 'smoke_20261130_a1b2c3d4');
  assert.equal(p.idempotencyKey, 'smoke-purchase-20261130-a1b2c3d4');
  const parsed = parseCommerceEvent(JSON.stringify(p.event));
  assert.ok(parsed.ok, JSON.stringify(parsed));
  assert.equal(parsed.event.event_type, 'purchase');
  assert.equal(parsed.event.user_id, p.userId);
  assert.equal(parsed.event.idempotency_key, p.idempotencyKey);
  assert.deepEqual(
    [
      p.event.timestamp,
      (p.event.payload as Record<string, unknown>).total_amount,
      (p.event.payload as Record<string, unknown>).currency,
    ],
    ['2026-11-30T23:59:59.500Z', 12.34, 'EUR'],
  );
  const other = smokePurchase(at);
  assert.notEqual(other.userId, p.userId, 'each run has its own user');
  assert.match(other.userId, /^smoke_20261130_[0-9a-f]{8}$/);
});

test('doctor counts processors, not their threads', () => {
  assert.equal(processorsOf(['vm:10', 'vm:11']), '2 processors');
  assert.equal(processorsOf(['vm:10/t0', 'vm:10/t1', 'vm:10/t0']), '1 processor (2 threads)');
  assert.equal(processorsOf(['vm:10/t0', 'vm:10/t1', 'vm:12']), '2 processors (3 threads)');
});

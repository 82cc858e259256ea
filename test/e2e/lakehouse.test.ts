/**
 * System B inside `rtsa start`, as a user runs it: commerce events posted over HTTP reach the
 * lake, and the lake writers' metrics say so (records, lag, silver's dropped duplicates).
 */
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import {
  exitOf,
  freePort,
  spawnRtsa,
  stopOrphanPostgres,
  until,
  waitHealthy,
} from '../helpers/rtsa-child.ts';

let dir: string;
let port: number;
let child: ChildProcess | undefined;

before(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'rtsa-e2e-lake-'));
  port = await freePort();
});

after(async () => {
  child?.kill('SIGKILL');
  if (child) await exitOf(child);
  await stopOrphanPostgres(dir);
  await rm(dir, { recursive: true, force: true });
});

const base = () => `http://127.0.0.1:${port}`;

/** One sample of a Prometheus text exposition, or undefined when the series is absent. */
function sample(text: string, series: string): number | undefined {
  for (const line of text.split('\n')) {
    if (line.startsWith(`${series} `)) return Number(line.slice(series.length + 1));
  }
  return undefined;
}

function pageView(eventId: string, key: string): string {
  return JSON.stringify({
    event_id: eventId,
    idempotency_key: key,
    user_id: 'u_lake_e2e',
    timestamp: new Date().toISOString(),
    event_type: 'page_view',
    device_type: 'desktop',
    ip_address: '192.0.2.1',
    schema_version: 'v1',
    payload: { page_url: '/home', session_id: 's1' },
  });
}

test('commerce events reach bronze; lag drains; a re-sent fact is counted as a silver duplicate', {
  timeout: 120_000,
}, async () => {
  child = spawnRtsa(
    ['start', '--data-dir', dir, '--port', String(port), '--no-generator', '--log-format', 'json'],
    { output: 'inherit' },
  ).proc;
  await waitHealthy(base());
  const res = await fetch(`${base()}/events`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-ndjson' },
    // The same business fact twice (a producer retry with a new event_id), and another fact.
    body: [pageView('e1', 'k1'), pageView('e1-retry', 'k1'), pageView('e2', 'k2')].join('\n'),
  });
  assert.equal(res.status, 202);
  const metrics = await until(
    'bronze committed all three and silver counted the duplicate',
    async () => {
      const text = await (await fetch(`${base()}/prometheus`)).text();
      return sample(text, 'rtsa_lake_records_total{layer="bronze"}') === 3 &&
        sample(text, 'rtsa_lake_silver_dropped_total{reason="duplicate"}') === 1
        ? text
        : undefined;
    },
    60_000,
  );
  // Kinds that never happened are series at 0, not missing (an alert on increase() sees the first).
  assert.equal(sample(metrics, 'rtsa_lake_silver_dropped_total{reason="late"}'), 0);
  assert.equal(sample(metrics, 'rtsa_processor_dead_letter_total{reason="late"}'), 0);
  assert.equal(sample(metrics, 'rtsa_processor_events_total{event_type="donation"}'), 0);
  const lags = metrics.split('\n').filter((l) => l.startsWith('rtsa_lake_consumer_lag{layer="bronze"'));
  assert.ok(lags.length > 0, 'bronze lag is reported per partition');
  await until('bronze lag drained', async () => {
    const text = await (await fetch(`${base()}/prometheus`)).text();
    const lines = text.split('\n').filter((l) => l.startsWith('rtsa_lake_consumer_lag{layer="bronze"'));
    return lines.length > 0 && lines.every((l) => l.endsWith(' 0')) ? true : undefined;
  });
  assert.ok(
    (sample(metrics, 'rtsa_lake_last_commit_timestamp_seconds{layer="bronze"}') ?? 0) > 0,
    'the last bronze commit time is set',
  );
  const bronze = await readdir(path.join(dir, 'lake', 'bronze'), { recursive: true });
  assert.ok(
    bronze.some((f) => f.endsWith('.parquet')),
    `bronze Parquet files under ${dir}/lake/bronze: ${bronze.join(', ')}`,
  );
  child.kill('SIGINT');
  assert.equal(await exitOf(child), 0);
  child = undefined;
});

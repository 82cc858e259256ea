/**
 * `rtsa quality check` as a user runs it: exit 0 when nothing FAILED (WARNINGs included), 1 when a
 * check FAILED, non-zero with a message saying what is wrong on bad flags; the report on stdout and in --output-json; --slack-webhook
 * overriding RTSA_ALERT_WEBHOOK_URL, received by a local server. And `rtsa serve`'s /prometheus
 * showing the gauges of the newest run.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import type { LocalLakeStore } from '../../../src/lakehouse/lake-store/index.ts';
import { createTestDatabase, type TestDatabase } from '../../helpers/postgres.ts';
import { cleanEnv, freePort, spawnRtsa, until, waitHealthy } from '../../helpers/rtsa-child.ts';
import { newLake, putEvents } from './lake-fixture.ts';

const CLI = path.resolve(import.meta.dirname, '../../../src/cli/main.ts');
let db: TestDatabase;
let lake: LocalLakeStore;
let temp: string;
let hook: Server;
let hookUrl: string;
const received: unknown[] = [];

before(async () => {
  db = await createTestDatabase('dq_cli');
  lake = await newLake();
  temp = await mkdtemp(path.join(tmpdir(), 'rtsa-quality-cli-'));
  hook = createServer((req, res) => {
    let text = '';
    req.on('data', (c) => {
      text += c;
    });
    req.on('end', () => {
      received.push(JSON.parse(text));
      res.writeHead(200).end('ok');
    });
  });
  await new Promise<void>((r) => hook.listen(0, '127.0.0.1', r));
  hookUrl = `http://127.0.0.1:${(hook.address() as AddressInfo).port}/hook`;
  // 2025-12-10 passes (fresh, volume within 20 % of 12-09, nulls WARNING: no warehouse facts);
  // 2025-12-12 has no data: Freshness FAILS.
  await putEvents(db.pool, lake, '2025-12-09', 100, { committedAt: '2025-12-09T23:59:00Z' });
  await putEvents(db.pool, lake, '2025-12-10', 110, { committedAt: '2025-12-10T23:59:00Z' });
});
after(async () => {
  await new Promise((r) => hook?.close(r));
  await db?.drop();
  if (lake) await rm(lake.location, { recursive: true, force: true });
  if (temp) await rm(temp, { recursive: true, force: true });
});

function rtsa(
  args: string[],
  env: NodeJS.ProcessEnv = {},
): Promise<{ code: number; stdout: string; out: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [CLI, ...args],
      {
        cwd: temp, // no ./quality folder here: only the built-in checks
        env: cleanEnv({ DATABASE_URL: db.url, RTSA_LAKE_URL: lake.location, LOG_FORMAT: 'json', ...env }),
      },
      (error, stdout, stderr) => {
        const code = error ? Number((error as { code?: number }).code ?? 1) : 0;
        resolve({ code, stdout, out: `${stdout}${stderr}` });
      },
    );
  });
}

/** The report: stdout is the JSON report alone (the logs go to stderr). */
function reportOf(stdout: string): {
  overall_status: string;
  checks: { check_name: string; status: string }[];
} {
  return JSON.parse(stdout);
}

test('rtsa quality check: exit 0 with warnings, 1 when a check fails, bad flags refused; report and alert', async () => {
  const file = path.join(temp, 'report.json');
  const ok = await rtsa(['quality', 'check', '--date', '2025-12-10', '--output-json', file]);
  assert.equal(ok.code, 0, ok.out);
  const report = reportOf(ok.stdout);
  assert.deepEqual(report, JSON.parse(await readFile(file, 'utf8')));
  assert.deepEqual(
    report.checks.map((c) => [c.check_name, c.status]),
    [
      ['Freshness Check', 'PASSED'],
      ['Volume Check', 'PASSED'],
      ['Null Check', 'WARNING'],
    ],
  );

  // The flag wins over the setting (which points nowhere useful).
  const failed = await rtsa(['quality', 'check', '--date', '2025-12-12', '--slack-webhook', hookUrl], {
    RTSA_ALERT_WEBHOOK_URL: 'http://127.0.0.1:9/unused',
  });
  assert.equal(failed.code, 1, failed.out);
  assert.equal(reportOf(failed.stdout).overall_status, 'FAILED');
  assert.equal(received.length, 1);
  assert.match(JSON.stringify(received[0]), /Freshness Check/);

  // The setting alone.
  const bySetting = await rtsa(['quality', 'check', '--date', '2025-12-12'], {
    RTSA_ALERT_WEBHOOK_URL: hookUrl,
  });
  assert.equal(bySetting.code, 1);
  assert.equal(received.length, 2);

  const runs = await db.pool.query<{ n: number }>('SELECT count(*)::int AS n FROM warehouse.quality_runs');
  assert.equal(runs.rows[0]!.n, 3, 'every run is kept');

  for (const [args, env, message] of [
    [
      ['quality', 'check', '--date', '2025-13-01'],
      {},
      /--date is .*2025-13-01.*: expected a date YYYY-MM-DD/,
    ],
    [['quality', 'check', '--nope'], {}, /Unknown option '--nope'/],
    [['quality'], {}, /needs a subcommand: one of check/],
    [['quality', 'check', '--slack-webhook', 'ftp://x'], {}, /must be an http:\/\/ or https:\/\/ URL/],
    [
      ['quality', 'check'],
      { RTSA_QUALITY_DIR: path.join(temp, 'missing') },
      /RTSA_QUALITY_DIR .* is not a folder/,
    ],
    [
      ['quality', 'check', '--output-json', path.join(temp, 'missing', 'report.json')],
      {},
      /--output-json .*missing\/report\.json.* cannot be written .*create the folder/,
    ],
  ] as const) {
    const r = await rtsa([...args], env);
    assert.notEqual(r.code, 0, r.out);
    assert.match(r.out, message);
  }
  // A bad flag is refused before any check runs.
  const after_ = await db.pool.query<{ n: number }>('SELECT count(*)::int AS n FROM warehouse.quality_runs');
  assert.equal(after_.rows[0]!.n, 3);
});

test('rtsa serve: /prometheus carries the quality gauges of the newest run', {
  timeout: 120_000,
}, async () => {
  const port = await freePort();
  const child = spawnRtsa(['serve', '--port', String(port), '--data-dir', path.join(temp, 'serve')], {
    env: cleanEnv({ DATABASE_URL: db.url, LOG_FORMAT: 'json' }),
  });
  try {
    const base = `http://127.0.0.1:${port}`;
    await waitHealthy(base, 60_000, child.tail);
    const text = await until('the quality gauges', async () => {
      const t = await (await fetch(`${base}/prometheus`)).text();
      return /rtsa_quality_check_status\{check="Freshness Check"\} 3/.test(t) ? t : undefined;
    });
    assert.match(text, /^rtsa_quality_last_run_failed 1$/m);
    assert.match(text, /^rtsa_quality_results_up 1$/m);
  } finally {
    await child.stop();
  }
});

/**
 * `rtsa smoke` and `rtsa doctor` as users run them: child processes against a real running stack
 * (`rtsa start` on a temp folder and a free port, the generator on). Healthy: exit 0 and ✓ lines;
 * with a real Prometheus (when installed) scraping it, then with a target down. Then broken three
 * ways — the wrong port, only Postgres stopped, the whole stack killed — each gives exit 1 with a
 * ✗ naming the cause and a hint (→) saying what to do.
 *
 * System B's purchase through the DAG: the smoke purchase of an earlier day (two days ago) is put
 * on the commerce topic before the stack starts, as that day's smoke would have sent it, and
 * recorded as sent; the first smoke queues the day's DAG run and finds the purchase in
 * marts.revenue_per_user at 12.34 EUR = 13.33 USD, a second smoke finds it again without a run.
 * Broken: a recorded purchase that never reached the lake (yesterday's) fails at that step with the
 * run's failure (and with a wrong token, at POST /dag/runs' 401); a stack with an API and a
 * scheduler but no worker fails at the DAG step. The stack has an ingest token, which smoke sends.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { recordSmokePurchase, smokePurchase } from '../../src/ops/lakehouse-checks.ts';
import { openDatabaseProbe } from '../../src/ops/stack-target.ts';
import { requireBinary, skipWithout } from '../helpers/system-binaries.ts';
import {
  cleanEnv,
  exitOf,
  freePort,
  postmasterPid,
  runRtsa,
  spawnRtsa,
  stopOrphanPostgres,
  until,
  waitHealthy,
} from '../helpers/rtsa-child.ts';

let dir: string;
let port: number;
let stack: ChildProcess | undefined;

/** The stack's ingest token: POST /events and POST /dag/runs need it; smoke sends it. */
const TOKEN = 'smoke-test-token';
/** `rtsa <args>` to its end, with the stack's token in the environment: exit code and output. */
const rtsa = (...args: string[]) => runRtsa(args, { env: cleanEnv({ RTSA_INGEST_TOKEN: TOKEN }) });
const wait = <T>(what: string, fn: () => Promise<T | undefined>, ms = 60_000) =>
  until(what, fn, ms, undefined, 100);

const at = () => ['--data-dir', dir, '--port', String(port)];

const DAY_MS = 86_400_000;
/** The day whose smoke purchase the stack's DAG carries to the marts: noon two days ago (UTC). */
const FOLLOWED_AT = Math.floor(Date.now() / DAY_MS - 2) * DAY_MS + DAY_MS / 2;
const followed = smokePurchase(FOLLOWED_AT);

/** The embedded Postgres of the running stack, from its postmaster.pid. */
async function stackDatabaseUrl(): Promise<string> {
  const text = await readFile(path.join(dir, 'postgres', 'postmaster.pid'), 'utf8');
  return `postgres://rtsa:rtsa@127.0.0.1:${Number(text.split('\n')[3])}/rtsa`;
}

/** Records a smoke purchase as sent (what smoke does after POST /events answered 202). */
async function recordSent(purchase: ReturnType<typeof smokePurchase>, atMs: number): Promise<void> {
  const db = openDatabaseProbe(await stackDatabaseUrl());
  try {
    await recordSmokePurchase(db, purchase, atMs);
  } finally {
    await db.close();
  }
}

before(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'rtsa-ops-'));
  port = await freePort();
  // That day's smoke purchase, first on the commerce topic: once the live generator runs, the
  // watermark is now and an event of two days ago would be late.
  const file = path.join(dir, 'followed.ndjson');
  await writeFile(file, `${JSON.stringify(followed.event)}\n`);
  const produced = await rtsa('produce', '--file', file, '--topic', 'events_raw', '--data-dir', dir);
  assert.equal(produced.code, 0, produced.out);
  stack = spawnRtsa(
    [
      'start',
      ...at(),
      '--rate',
      '20',
      '--log-format',
      'json',
      '--log-level',
      'warn',
      '--flush-interval',
      '100ms',
      '--lake-flush-interval',
      '1s',
      // Silver closes sessions within seconds, so its watermark is known and a run of a past day
      // passes wait_for_silver at once (with the 30 min default gap, not before half an hour).
      '--session-gap',
      '1s',
      '--lake-lateness',
      '1s',
      // A failing run fails at once (the broken-DAG test), not after retries minutes apart.
      '--dag-retries',
      '0',
    ],
    { output: 'inherit', env: cleanEnv({ RTSA_INGEST_TOKEN: TOKEN }) },
  ).proc;
  await waitHealthy(`http://127.0.0.1:${port}`);
  await recordSent(followed, FOLLOWED_AT);
});

after(async () => {
  stack?.kill('SIGKILL');
  if (stack) await exitOf(stack);
  // The kill -9 leaves the embedded Postgres running when a test stopped early: end it by its pid.
  await stopOrphanPostgres(dir);
  await rm(dir, { recursive: true, force: true });
});

const SMOKE_CHECKS = [
  'API /health',
  'topic exists',
  'donation aggregated',
  'offsets advance',
  'processor healthy',
  'Postgres has recent rows',
  'GET /metrics',
  'GET /metrics/latest',
  'GET /metrics/history',
  'GET /streams/top',
  'GET /state',
  'GET /prometheus',
  // System B
  'commerce event in bronze and silver',
  'DAG scheduler and worker',
  'DAG runs not failing',
  'data quality not failing',
  'purchase reaches revenue_per_user',
  'GET /kpi/summary',
];
/** A day no event is in: its DAG run fails (Freshness Check: no silver data). */
const EMPTY_DAY = '2001-02-03';

test('smoke passes against a healthy embedded stack, with every seed check ✓', {
  timeout: 120_000,
}, async () => {
  const { code, out } = await rtsa('smoke', ...at(), '--wait', '90s');
  assert.equal(code, 0, out);
  for (const check of SMOKE_CHECKS)
    assert.match(out, new RegExp(`✓ ${escapeRegExp(check)}: `), `${check}\n${out}`);
  assert.doesNotMatch(out, /✗/);
  assert.match(out, /✓ donation aggregated: 12\.34 USD in smoke_/);
  assert.match(
    out,
    /✓ commerce event in bronze and silver: smoke_\w+'s purchase committed by bronze and silver/,
  );
  assert.match(out, /✓ DAG scheduler and worker: 1 scheduler, 1 worker alive/);
  // The earlier day's purchase went through a run this smoke queued, to the marts.
  assert.match(out, new RegExp(`… queued run \\d+ of ${followed.date} to follow ${followed.userId}'s`));
  assert.match(
    out,
    new RegExp(
      `✓ purchase reaches revenue_per_user: ${followed.userId}'s 12\\.34 EUR purchase of ${followed.date} in marts\\.revenue_per_user: 13\\.33 USD, 1 purchase, after run \\d+ of ${followed.date}, queued by this smoke`,
    ),
  );
  assert.match(out, /smoke passed: 18 checks/);
  // The oracle, independent of smoke: 12.34 EUR at the seeded 1.08 is 13.3272, 13.33 USD.
  const db = openDatabaseProbe(await stackDatabaseUrl());
  try {
    const rows = await db.query<{ total_purchases: number; total_revenue_usd: string; total_items: number }>(
      'SELECT total_purchases::int, total_revenue_usd::text, total_items::int FROM marts.revenue_per_user WHERE user_id = $1',
      [followed.userId],
    );
    assert.deepEqual(rows, [{ total_purchases: 1, total_revenue_usd: '13.33', total_items: 2 }]);
    const sent = await db.query<{ d: string }>(
      "SELECT to_char(logical_date, 'YYYY-MM-DD') AS d FROM ops.smoke_purchases ORDER BY 1",
    );
    assert.deepEqual(
      sent.map((r) => r.d),
      [followed.date, new Date().toISOString().slice(0, 10)],
      "today's purchase is recorded for a later smoke",
    );
  } finally {
    await db.close();
  }
});

test('smoke reads the database from DATABASE_URL as well as from the embedded data folder', {
  timeout: 120_000,
}, async () => {
  const text = await readFile(path.join(dir, 'postgres', 'postmaster.pid'), 'utf8');
  const pgPort = Number(text.split('\n')[3]);
  const url = `postgres://rtsa:rtsa@127.0.0.1:${pgPort}/rtsa`;
  const { code, out } = await rtsa('smoke', ...at(), '--database-url', url, '--wait', '30s');
  assert.equal(code, 0, out);
  assert.match(out, /postgres:\/\/rtsa:\*\*\*@127\.0\.0\.1/, 'the password is not printed');
  // Idempotent: the day has a succeeded run now, so the second smoke only reads the marts.
  assert.match(
    out,
    new RegExp(
      `✓ purchase reaches revenue_per_user: ${followed.userId}'s .*: 13\\.33 USD, 1 purchase, after run \\d+ of ${followed.date}\\b`,
    ),
  );
  assert.doesNotMatch(out, /queued run/);
  assert.match(out, /✓ processor healthy: group rtsa-processor: 1\/1 partitions/);
});

test('doctor finds nothing wrong with a healthy stack', { timeout: 120_000 }, async () => {
  const { code, out } = await rtsa('doctor', ...at());
  assert.equal(code, 0, out);
  for (const finding of [
    'API',
    'Postgres',
    'topic',
    'input',
    'consumer group',
    'consumer lag',
    'windows',
    'bronze',
    'silver',
    'schedulers',
    'workers',
    'runs',
    'quality',
  ]) {
    assert.match(out, new RegExp(`✓ ${finding}: `), `${finding}\n${out}`);
  }
  assert.match(out, /doctor: all good/);
});

test('smoke --prometheus-url: ready with every target up passes; a target down fails and names it', {
  timeout: 120_000,
  skip: skipWithout('prometheus'),
}, async () => {
  const promDir = path.join(dir, 'prometheus');
  await mkdir(promDir);
  const config = path.join(promDir, 'prometheus.yml');
  const job = (name: string, target: string, metricsPath: string) =>
    `  - job_name: ${name}\n    metrics_path: ${metricsPath}\n    static_configs:\n      - targets: ['${target}']\n`;
  const head = 'global:\n  scrape_interval: 1s\n  scrape_timeout: 900ms\nscrape_configs:\n';
  await writeFile(config, head + job('rtsa-api', `127.0.0.1:${port}`, '/prometheus'));
  const promPort = await freePort();
  const url = `http://127.0.0.1:${promPort}`;
  const prometheus = spawn(
    requireBinary('prometheus'),
    [
      `--config.file=${config}`,
      `--storage.tsdb.path=${path.join(promDir, 'tsdb')}`,
      `--web.listen-address=127.0.0.1:${promPort}`,
    ],
    { stdio: 'ignore' },
  );
  try {
    await wait('Prometheus to be ready', async () => ((await fetch(`${url}/-/ready`)).ok ? true : undefined));
    const up = await rtsa('smoke', ...at(), '--prometheus-url', url, '--wait', '30s');
    assert.equal(up.code, 0, up.out);
    assert.match(up.out, /✓ Prometheus ready: ready at /);
    assert.match(up.out, /✓ Prometheus targets up: 1 target up \(rtsa-api\)/);

    const dead = await freePort();
    await writeFile(
      config,
      head +
        job('rtsa-api', `127.0.0.1:${port}`, '/prometheus') +
        job('rtsa-processor', `127.0.0.1:${dead}`, '/metrics'),
    );
    prometheus.kill('SIGHUP'); // reload the configuration
    await wait('the second target', async () => {
      const body = (await (await fetch(`${url}/api/v1/targets`)).json()) as {
        data: { activeTargets: unknown[] };
      };
      return body.data.activeTargets.length === 2 ? true : undefined;
    });
    const down = await rtsa('smoke', ...at(), '--prometheus-url', url, '--wait', '3s');
    assert.equal(down.code, 1, down.out);
    assert.match(
      down.out,
      new RegExp(
        `✗ Prometheus targets up: not up after .*rtsa-processor http://127\\.0\\.0\\.1:${dead}/metrics`,
      ),
    );
    assert.match(down.out, /→ is each service running and serving metrics/);
    // One slow scrape (900 ms timeout) marks the API down for a second on a busy machine: ask doctor
    // once Prometheus sees the API up and the dead target down.
    await wait('the API target up and the dead one down', async () => {
      const body = (await (await fetch(`${url}/api/v1/targets`)).json()) as {
        data: { activeTargets: { labels: { job: string }; health: string }[] };
      };
      const health = new Map(body.data.activeTargets.map((t) => [t.labels.job, t.health]));
      return health.get('rtsa-api') === 'up' && health.get('rtsa-processor') === 'down' ? true : undefined;
    });
    const doctor = await rtsa('doctor', ...at(), '--prometheus-url', url);
    assert.equal(doctor.code, 1, doctor.out);
    assert.match(doctor.out, /✗ targets: 1 of 2 not up/);
  } finally {
    prometheus.kill('SIGTERM');
    await exitOf(prometheus);
  }
});

test('a failed DAG run and a FAILED quality check: smoke and doctor name them and say what to do', {
  timeout: 180_000,
}, async () => {
  // A real failure: the run of a day without data fails its quality_check (no silver file for the
  // Freshness Check), with no retry (--dag-retries 0). `rtsa dag run` hands it to the running
  // stack's scheduler and worker and follows it to its end.
  const run = await rtsa('dag', 'run', '--date', EMPTY_DAY, '--data-dir', dir);
  assert.equal(run.code, 1, run.out);
  assert.match(run.out, /quality_check/);

  const smoke = await rtsa('smoke', ...at(), '--wait', '30s');
  assert.equal(smoke.code, 1, smoke.out);
  assert.match(
    smoke.out,
    new RegExp(`✗ DAG runs not failing: the newest finished run \\d+ of ${EMPTY_DAY} failed .*quality_check`),
  );
  assert.match(smoke.out, /→ `rtsa dag runs` and `curl <api>\/dag\/runs\/<id>` show the failed task/);
  assert.match(
    smoke.out,
    new RegExp(`✗ data quality not failing: quality run \\d+ of ${EMPTY_DAY} FAILED: .*Freshness Check`),
  );
  assert.match(smoke.out, new RegExp(`→ \`rtsa quality check --date ${EMPTY_DAY}\` prints the report`));
  assert.match(smoke.out, /✓ commerce event in bronze and silver/, 'the lake is fine');
  assert.match(smoke.out, /smoke FAILED: 2 failed/);

  const doctor = await rtsa('doctor', ...at());
  assert.equal(doctor.code, 1, doctor.out);
  assert.match(doctor.out, new RegExp(`✗ runs: the newest finished run \\d+ of ${EMPTY_DAY} failed`));
  assert.match(doctor.out, new RegExp(`✗ quality: run \\d+ of ${EMPTY_DAY} FAILED: .*Freshness Check`));
  assert.match(doctor.out, /✓ bronze: /);
  assert.match(doctor.out, /✓ workers: 1 alive/);
});

test('a recorded smoke purchase that never reached the lake: smoke fails at the DAG run of its day', {
  timeout: 180_000,
}, async () => {
  // Yesterday's smoke "sent" a purchase the topic never got (the stack started today): the run of
  // yesterday that smoke queues finds no silver data and fails its quality_check (no retry here).
  const lostAt = Date.now() - DAY_MS;
  const lost = smokePurchase(lostAt);
  await recordSent(lost, lostAt);
  // The stack's silver settings, so yesterday counts as closed from 00:00:02 UTC.
  const silver = ['--session-gap', '1s', '--lake-lateness', '1s'];
  // With the wrong token, POST /dag/runs refuses the run (as POST /events refuses the purchase).
  const refused = await runRtsa(['smoke', ...at(), ...silver, '--wait', '3s'], {
    env: cleanEnv({ RTSA_INGEST_TOKEN: 'not-the-token' }),
  });
  assert.equal(refused.code, 1, refused.out);
  assert.match(
    refused.out,
    new RegExp(
      `✗ purchase reaches revenue_per_user: POST /dag/runs \\{"date": "${lost.date}"\\} \\(to follow ${lost.userId}'s .*\\) answered 401: .*the bearer token is not the ingest token`,
    ),
  );
  assert.match(refused.out, /→ set RTSA_INGEST_TOKEN \/ --ingest-token to the token the API expects/);
  assert.doesNotMatch(refused.out, /queued run/);
  const smoke = await rtsa('smoke', ...at(), ...silver, '--wait', '90s');
  assert.equal(smoke.code, 1, smoke.out);
  assert.match(smoke.out, new RegExp(`… queued run \\d+ of ${lost.date} to follow ${lost.userId}'s`));
  assert.match(
    smoke.out,
    new RegExp(
      `✗ purchase reaches revenue_per_user: run \\d+ of ${lost.date} \\(for ${lost.userId}'s 12\\.34 EUR purchase of ${lost.date}\\) failed at quality_check: .*Freshness Check`,
    ),
  );
  assert.match(smoke.out, new RegExp(`→ \`rtsa dag runs\` and .* then \`rtsa dag run --date ${lost.date}\``));
});

test('a stack with an API and a scheduler but no DAG worker: smoke fails at the DAG step', {
  timeout: 180_000,
}, async () => {
  const other = await mkdtemp(path.join(tmpdir(), 'rtsa-ops-noworker-'));
  const otherPort = await freePort();
  const serve = spawnRtsa(
    ['serve', '--data-dir', other, '--port', String(otherPort), '--log-level', 'warn'],
    {
      output: 'inherit',
    },
  ).proc;
  let scheduler: ChildProcess | undefined;
  try {
    await waitHealthy(`http://127.0.0.1:${otherPort}`);
    const text = await readFile(path.join(other, 'postgres', 'postmaster.pid'), 'utf8');
    const url = `postgres://rtsa:rtsa@127.0.0.1:${Number(text.split('\n')[3])}/rtsa`;
    scheduler = spawnRtsa(['scheduler', '--database-url', url, '--log-level', 'warn'], {
      output: 'inherit',
    }).proc;
    const db = openDatabaseProbe(url);
    try {
      await recordSmokePurchase(db, followed, FOLLOWED_AT);
      await wait('the scheduler to heart-beat', async () => {
        const rows = await db
          .query<{ n: number }>(
            "SELECT count(*)::int AS n FROM orchestration.processes WHERE role = 'scheduler'",
          )
          .catch(() => []);
        return (rows[0]?.n ?? 0) > 0 ? true : undefined;
      });
    } finally {
      await db.close();
    }
    const smoke = await rtsa('smoke', '--data-dir', other, '--port', String(otherPort), '--wait', '3s');
    assert.equal(smoke.code, 1, smoke.out);
    assert.match(smoke.out, /✗ DAG scheduler and worker: no DAG worker alive \(none in 30 s\)/);
    assert.match(smoke.out, /→ no DAG worker: `rtsa start` runs one; is it running\? Or run `rtsa worker`/);
    assert.match(smoke.out, /- purchase reaches revenue_per_user: skipped: no DAG worker alive/);
    assert.doesNotMatch(smoke.out, /queued run/, 'no run is queued that nothing would execute');
  } finally {
    scheduler?.kill('SIGINT');
    if (scheduler) await exitOf(scheduler);
    serve.kill('SIGINT');
    await exitOf(serve);
    await stopOrphanPostgres(other);
    await rm(other, { recursive: true, force: true });
  }
});

test('the wrong port: smoke and doctor fail on the API with a hint', { timeout: 60_000 }, async () => {
  const wrong = String(await freePort());
  const smoke = await rtsa('smoke', '--data-dir', dir, '--port', wrong, '--wait', '3s');
  assert.equal(smoke.code, 1, smoke.out);
  assert.match(
    smoke.out,
    new RegExp(`✗ API /health: no answer from http://127\\.0\\.0\\.1:${wrong}: connection refused`),
  );
  assert.match(smoke.out, /→ start rtsa \(`npm start`\), or point --api-url/);
  assert.match(smoke.out, /- GET \/metrics: skipped: the API is unreachable/);
  assert.match(smoke.out, /smoke FAILED/);
  const doctor = await rtsa('doctor', '--data-dir', dir, '--port', wrong);
  assert.equal(doctor.code, 1, doctor.out);
  assert.match(doctor.out, /✗ API: no answer/);
});

test('only Postgres stopped: smoke and doctor say the database is down and how to fix it', {
  timeout: 120_000,
}, async () => {
  assert.ok((await postmasterPid(dir)) !== undefined, 'the embedded Postgres runs');
  await stopOrphanPostgres(dir); // fast shutdown, as an operator stopping it would
  assert.equal(await postmasterPid(dir), undefined, 'Postgres stopped');
  // Both sides of the outage before asking: the API's 503 and the processor's failed commit.
  await wait('/health to report it, and the processor unhealthy', async () => {
    const res = await fetch(`http://127.0.0.1:${port}/health`);
    const body = (await res.json()) as { pipeline?: { processor?: string } };
    return res.status === 503 && body.pipeline?.processor === 'unhealthy' ? true : undefined;
  });

  const smoke = await rtsa('smoke', ...at(), '--wait', '3s');
  assert.equal(smoke.code, 1, smoke.out);
  assert.match(smoke.out, /✗ API \/health: answered 503: database unavailable/);
  assert.match(smoke.out, /→ the embedded Postgres is not running: restart rtsa/);
  assert.match(smoke.out, /✓ topic exists/, 'the log is still readable');
  assert.match(smoke.out, /- donation aggregated: skipped: the API cannot reach its database/);

  const doctor = await rtsa('doctor', ...at());
  assert.equal(doctor.code, 1, doctor.out);
  assert.match(doctor.out, /✗ Postgres: the embedded Postgres in .* is not running/);
  assert.match(doctor.out, /✗ pipeline: \/health reports the processor unhealthy/);
  assert.match(doctor.out, /✓ input: /, 'events still arrive in the log');
  assert.match(doctor.out, /doctor: \d+ problems?/);
});

test('the whole stack stopped: smoke fails with what to start', { timeout: 60_000 }, async () => {
  assert.ok(stack);
  stack.kill('SIGKILL');
  await exitOf(stack);
  const smoke = await rtsa('smoke', ...at(), '--wait', '2s');
  assert.equal(smoke.code, 1, smoke.out);
  assert.match(smoke.out, /✗ API \/health: no answer .* connection refused/);
  assert.match(smoke.out, /✗ offsets advance: no new records/);
  assert.match(smoke.out, /→ no new events: is the generator on/);
  const doctor = await rtsa('doctor', ...at());
  assert.equal(doctor.code, 1, doctor.out);
  assert.match(doctor.out, /! embedded log: .*its writer \(pid \d+\) is gone/);
});

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
}

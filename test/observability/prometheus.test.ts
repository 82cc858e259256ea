/**
 * The observability contract end to end: a live rtsa scraped by a real Prometheus that runs
 * deploy/prometheus/prometheus.yml (targets swapped for loopback ones, intervals shortened) with its
 * rule files, and every query of every panel of the three Grafana dashboards answering with data.
 * Also: promtool validates the config and rules and runs the alert unit tests, the seed's metric
 * names are exposed, docs/observability.md lists exactly the metrics rtsa exposes, and the
 * dashboards reference the provisioned datasource.
 *
 * Processes, all started and stopped here:
 *   start       `rtsa start` with the generator on (and bad events): API, processor and generator
 *               in one process, one registry; job rtsa-api scrapes its GET /prometheus
 *   generate    `rtsa generate --metrics-port`: a standalone generator onto a second log; job rtsa-generator
 *   process     `rtsa process --metrics-port`: a standalone processor of that log into a test
 *               database; job rtsa-processor
 *   lake ×2     `rtsa lake --metrics-port` with RTSA_LAKE_LAYERS bronze, and silver: system B's
 *               writers of that log (a day of generated commerce history) into a lake folder and
 *               the test database; job rtsa-lake
 *   scheduler   `rtsa scheduler --metrics-port`, job rtsa-scheduler, and
 *   worker      `rtsa worker --metrics-port`, job rtsa-worker: the DAG on the test database, which
 *               runs that day (`rtsa dag run --date`) to success before the checks
 *   prometheus  /usr/bin/prometheus (Debian: apt-get install -y prometheus; PROMETHEUS_BIN overrides)
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { createTestDatabase, type TestDatabase } from '../helpers/postgres.ts';
import { requireBinary, SYSTEM_BINARIES, skipWithout } from '../helpers/system-binaries.ts';
import {
  cleanEnv,
  freePort,
  type RtsaChild,
  runRtsa,
  spawnRtsa,
  stopOrphanPostgres,
  until as untilHelper,
} from '../helpers/rtsa-child.ts';

const run = promisify(execFile);
const ROOT = path.resolve(import.meta.dirname, '../..');
const PROM_DIR = path.join(ROOT, 'deploy/prometheus');
const GRAFANA_DIR = path.join(ROOT, 'deploy/grafana');
const PROMETHEUS_BIN = SYSTEM_BINARIES.prometheus.path;
const PROMTOOL_BIN = path.join(path.dirname(PROMETHEUS_BIN), 'promtool');

const SEED_METRICS = [
  'api_http_requests_total',
  'api_http_request_duration_seconds',
  'api_db_ok',
  'api_stream_metrics_rows_recent',
  'api_donation_rows_recent',
  'api_latest_window_age_seconds',
];
const OVERVIEW_PANELS = [
  'API RPS',
  'API p95 latency',
  'DB OK',
  'Stream rows (last 5 min)',
  'Donation rows (last 5 min)',
  'Latest window age (seconds)',
];
const JOBS = ['rtsa-api', 'rtsa-processor', 'rtsa-generator', 'rtsa-lake', 'rtsa-scheduler', 'rtsa-worker'];
const DASHBOARDS = ['rtsa-overview.json', 'rtsa-pipeline.json', 'rtsa-lakehouse.json'];
/**
 * The day of commerce history the standalone lake writers and the DAG process: yesterday (UTC), as
 * the 02:00 run would, so RtsaDagBehind stays quiet; in the first hour of a day, the day before
 * (silver closes yesterday's sessions only after the session gap + the lateness past midnight).
 */
const HISTORY_DATE = new Date(Date.now() - (new Date().getUTCHours() < 1 ? 2 : 1) * 86_400_000)
  .toISOString()
  .slice(0, 10);
/** What Grafana's $__rate_interval is at the provisioned 5 s scrape interval and a short time range. */
const RATE_INTERVAL = '30s';

// ---------------------------------------------------------------------------------------- helpers

type Child = RtsaChild;

/** rtsa with JSON logs, its output kept for failure messages. */
function rtsa(name: string, args: string[]): Child {
  return spawnRtsa([...args, '--log-format', 'json'], { name });
}

function startChild(name: string, command: string, args: string[]): Child {
  return spawnRtsa(args, { name, command });
}

async function stop(child: Child | undefined, signal: NodeJS.Signals = 'SIGINT', ms = 15_000): Promise<void> {
  await child?.stop(signal, ms);
}

/** Waits for `fn` to give a value, polling every 250 ms. */
function until<T>(
  what: string,
  fn: () => Promise<T | undefined>,
  ms: number,
  explain?: () => string,
): Promise<T> {
  return untilHelper(what, fn, ms, explain, 250);
}

async function httpOk(url: string): Promise<string | undefined> {
  const res = await fetch(url, { signal: AbortSignal.timeout(2_000) });
  return res.ok ? await res.text() : undefined;
}

interface PromSample {
  metric: Record<string, string>;
  value: [number, string];
}

// ---------------------------------------------------------------------- dashboards and their queries

interface GrafanaTarget {
  refId: string;
  expr?: string;
  datasource?: { type?: string; uid?: string };
}
interface GrafanaPanel {
  id: number;
  type: string;
  title: string;
  datasource?: { type?: string; uid?: string };
  targets?: GrafanaTarget[];
  panels?: GrafanaPanel[];
  gridPos?: { h: number; w: number; x: number; y: number };
}
interface GrafanaVariable {
  name: string;
  type: string;
  datasource?: { type?: string; uid?: string };
  includeAll?: boolean;
  allValue?: string;
  current?: { value?: string | string[] };
}
interface Dashboard {
  uid: string;
  title: string;
  schemaVersion: number;
  panels: GrafanaPanel[];
  templating: { list: GrafanaVariable[] };
}

async function loadDashboard(file: string): Promise<Dashboard> {
  return JSON.parse(await readFile(path.join(GRAFANA_DIR, 'dashboards', file), 'utf8')) as Dashboard;
}

/** Every panel, including those inside collapsed rows. */
function allPanels(d: Dashboard): GrafanaPanel[] {
  return d.panels.flatMap((p) => [p, ...(p.panels ?? [])]);
}

/** The PromQL Grafana would send: its interval macros and the dashboard's variables substituted. */
function toPromQL(expr: string, d: Dashboard): string {
  const vars = new Map<string, string>();
  for (const v of d.templating.list) {
    const current = v.current?.value;
    const all = Array.isArray(current) ? current.includes('$__all') : current === '$__all';
    if (v.includeAll && all) vars.set(v.name, v.allValue ?? '.*');
    else if (Array.isArray(current)) vars.set(v.name, current.join('|'));
    else if (current !== undefined) vars.set(v.name, current);
  }
  return expr
    .replaceAll('$__rate_interval', RATE_INTERVAL)
    .replaceAll('$__interval_ms', '15000')
    .replaceAll('$__interval', '15s')
    .replaceAll('$__range', '30m')
    .replace(/\$\{(\w+)(?::\w+)?\}|\$(\w+)/g, (m, braced: string | undefined, bare: string | undefined) => {
      const value = vars.get((braced ?? bare) as string);
      assert.ok(value !== undefined, `${d.uid}: unknown variable ${m} in ${expr}`);
      return value;
    });
}

/** The uid the provisioned datasource has (deploy/grafana/provisioning/datasources/prometheus.yml). */
async function provisionedDatasourceUid(): Promise<string> {
  const text = await readFile(path.join(GRAFANA_DIR, 'provisioning/datasources/prometheus.yml'), 'utf8');
  const uid = /^\s+uid:\s*['"]?([\w-]+)/m.exec(text)?.[1];
  assert.ok(uid, 'the datasource provisioning file names a uid');
  return uid;
}

// ------------------------------------------------------------------------------------- the stack

let dir: string;
let db: TestDatabase | undefined;
let apiPort: number;
let generatorPort: number;
let processorPort: number;
let bronzePort: number;
let silverPort: number;
let schedulerPort: number;
let workerPort: number;
let promPort: number;
const children: Child[] = [];
let startChildProc: Child | undefined;
let prometheus: Child | undefined;

const api = () => `http://127.0.0.1:${apiPort}`;
const prom = () => `http://127.0.0.1:${promPort}`;
const explainAll = () => [...children, ...(prometheus ? [prometheus] : [])].map((c) => c.tail()).join('\n');

async function promQuery(query: string): Promise<PromSample[]> {
  const res = await fetch(`${prom()}/api/v1/query`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ query }),
    signal: AbortSignal.timeout(5_000),
  });
  const body = (await res.json()) as {
    status: string;
    error?: string;
    data?: { resultType: string; result: PromSample[] };
  };
  if (body.status !== 'success') throw new Error(`${query}: ${body.error ?? res.status}`);
  return body.data?.resultType === 'vector' ? body.data.result : [];
}

/**
 * deploy/prometheus/prometheus.yml with loopback targets and 1 s intervals (so rates exist within
 * seconds); every replaced string must be found once, so a change to the file shows up here.
 */
async function derivePrometheusConfig(into: string): Promise<string> {
  let text = await readFile(path.join(PROM_DIR, 'prometheus.yml'), 'utf8');
  const swap = (from: string, to: string) => {
    assert.equal(text.split(from).length - 1, 1, `deploy/prometheus/prometheus.yml has ${from} once`);
    text = text.replace(from, to);
  };
  swap("'api:8000'", `'127.0.0.1:${apiPort}'`);
  swap("'processor:9464'", `'127.0.0.1:${processorPort}'`);
  swap("'generator:9465'", `'127.0.0.1:${generatorPort}'`);
  swap("'lake-bronze:9466', 'lake-silver:9466'", `'127.0.0.1:${bronzePort}', '127.0.0.1:${silverPort}'`);
  swap("'scheduler:9467'", `'127.0.0.1:${schedulerPort}'`);
  // The workers are found by DNS in compose; here the one worker is a static target.
  swap(
    "dns_sd_configs:\n      - names: ['worker']\n        type: A\n        port: 9468\n        refresh_interval: 15s",
    `static_configs:\n      - targets: ['127.0.0.1:${workerPort}']`,
  );
  swap("'localhost:9090'", `'127.0.0.1:${promPort}'`);
  swap('scrape_interval: 5s', 'scrape_interval: 1s');
  swap('scrape_timeout: 4s', 'scrape_timeout: 1s');
  swap('evaluation_interval: 5s', 'evaluation_interval: 1s');
  await cp(path.join(PROM_DIR, 'rules'), path.join(into, 'rules'), { recursive: true });
  const file = path.join(into, 'prometheus.yml');
  await writeFile(file, text);
  return file;
}

// Static: needs neither Prometheus nor rtsa, so it runs (and fails alone) without them.
test('the dashboards are valid, keep their uids and use the provisioned datasource', async () => {
  const uid = await provisionedDatasourceUid();
  const overview = await loadDashboard('rtsa-overview.json');
  const pipeline = await loadDashboard('rtsa-pipeline.json');
  const lakehouse = await loadDashboard('rtsa-lakehouse.json');
  assert.equal(lakehouse.uid, 'rtsa-lakehouse');
  assert.equal(lakehouse.title, 'rtsa — Lakehouse');
  // What the Lakehouse dashboard must show (issue 10): each theme has a panel reading its metrics.
  const exprs = allPanels(lakehouse).flatMap((p) => (p.targets ?? []).map((t) => t.expr ?? ''));
  for (const metric of [
    'rtsa_lake_records_total',
    'rtsa_lake_consumer_lag',
    'rtsa_lake_silver_dropped_total',
    'rtsa_lake_last_commit_timestamp_seconds',
    'rtsa_dag_runs',
    'rtsa_dag_task_duration_seconds',
    'rtsa_quality_check_status',
    'api_http_requests_total{path=~"/kpi/',
    'rtsa_feed_viewers',
  ]) {
    assert.ok(
      exprs.some((e) => e.includes(metric)),
      `rtsa-lakehouse has no panel on ${metric}`,
    );
  }
  assert.equal(overview.uid, 'rtsa-overview');
  assert.equal(overview.title, 'Real-time Streaming Analytics — Overview');
  assert.equal(pipeline.uid, 'rtsa-pipeline');
  assert.equal(pipeline.title, 'rtsa — Pipeline');
  assert.deepEqual(
    overview.panels.map((p) => p.title),
    OVERVIEW_PANELS,
    "the overview has exactly the seed's six panels",
  );
  for (const d of [overview, pipeline, lakehouse]) {
    assert.ok(d.schemaVersion >= 39, `${d.uid}: schemaVersion ${d.schemaVersion}`);
    const ids = allPanels(d).map((p) => p.id);
    assert.equal(new Set(ids).size, ids.length, `${d.uid}: panel ids are unique`);
    for (const v of d.templating.list) {
      if (v.type === 'query') assert.equal(v.datasource?.uid, uid, `${d.uid}: variable ${v.name}`);
    }
    for (const p of allPanels(d)) {
      assert.ok(p.gridPos, `${d.uid}/${p.title}: gridPos`);
      if (p.type === 'row') continue;
      assert.deepEqual(p.datasource, { type: 'prometheus', uid }, `${d.uid}/${p.title}: datasource`);
      assert.ok((p.targets ?? []).length > 0, `${d.uid}/${p.title}: has queries`);
      for (const t of p.targets ?? []) {
        assert.deepEqual(t.datasource, { type: 'prometheus', uid }, `${d.uid}/${p.title}/${t.refId}`);
        assert.ok(t.expr?.trim(), `${d.uid}/${p.title}/${t.refId}: expr`);
      }
    }
  }
});

describe('Prometheus and Grafana against a live rtsa', {
  timeout: 300_000,
  skip: skipWithout('prometheus'),
}, () => {
  before(async () => {
    requireBinary('prometheus');
    dir = await mkdtemp(path.join(tmpdir(), 'rtsa-obs-'));
    [apiPort, generatorPort, processorPort, bronzePort, silverPort, schedulerPort, workerPort, promPort] =
      (await Promise.all(Array.from({ length: 8 }, () => freePort()))) as [
        number,
        number,
        number,
        number,
        number,
        number,
        number,
        number,
      ];
    db = await createTestDatabase('obs');

    startChildProc = rtsa('start', [
      'start',
      '--data-dir',
      path.join(dir, 'start'),
      '--port',
      String(apiPort),
      '--rate',
      '200',
      '--bad-rate',
      '0.02',
      '--flush-interval',
      '200ms',
      '--log-level',
      'warn',
    ]);
    children.push(startChildProc);
    const pipelineDir = path.join(dir, 'pipeline');
    // System B's input first: a day of commerce history on the second log (the embedded log has one
    // writer at a time, and the live generator below keeps it).
    const history = await runRtsa(
      [
        'generate',
        '--domain',
        'commerce',
        '--from',
        HISTORY_DATE,
        '--events-per-day',
        '400',
        '--data-dir',
        pipelineDir,
        '--log-level',
        'warn',
      ],
      { name: 'generate history' },
    );
    assert.equal(history.code, 0, history.out);
    const generate = rtsa('generate', [
      'generate',
      '--data-dir',
      pipelineDir,
      '--metrics-port',
      String(generatorPort),
      '--rate',
      '200',
      '--bad-rate',
      '0.02',
      '--log-level',
      'warn',
    ]);
    children.push(generate);
    // The generator creates the topic (and holds the log's writer lock) before it serves /metrics:
    // only then may the processor open the same log, as a reader.
    await until(
      'the generator /metrics',
      () => httpOk(`http://127.0.0.1:${generatorPort}/metrics`),
      30_000,
      explainAll,
    );
    children.push(
      rtsa('process', [
        'process',
        '--data-dir',
        pipelineDir,
        '--database-url',
        db.url,
        '--metrics-port',
        String(processorPort),
        '--flush-interval',
        '200ms',
        '--log-level',
        'warn',
      ]),
    );

    // System B on the second log and the test database: the lake writers (one process per layer,
    // as in compose), the DAG's scheduler and worker.
    const lakeSettings = ['--lake-flush-interval', '500ms', '--lake-idle-timeout', '1s'];
    for (const [layer, port] of [
      ['bronze', bronzePort],
      ['silver', silverPort],
    ] as const) {
      children.push(
        spawnRtsa(
          [
            'lake',
            '--data-dir',
            pipelineDir,
            '--database-url',
            db.url,
            '--metrics-port',
            String(port),
            ...lakeSettings,
            '--log-level',
            'warn',
            '--log-format',
            'json',
          ],
          { name: `lake ${layer}`, env: cleanEnv({ RTSA_LAKE_LAYERS: layer }) },
        ),
      );
    }
    for (const [role, port] of [
      ['scheduler', schedulerPort],
      ['worker', workerPort],
    ] as const) {
      children.push(
        rtsa(role, [
          role,
          '--data-dir',
          pipelineDir,
          '--database-url',
          db.url,
          '--metrics-port',
          String(port),
          '--dag-silver-poll',
          '500ms',
          '--log-level',
          'warn',
        ]),
      );
    }

    const config = await derivePrometheusConfig(dir);
    prometheus = startChild('prometheus', PROMETHEUS_BIN, [
      `--config.file=${config}`,
      `--storage.tsdb.path=${path.join(dir, 'tsdb')}`,
      `--web.listen-address=127.0.0.1:${promPort}`,
      '--log.level=warn',
    ]);
    await until('Prometheus ready', () => httpOk(`${prom()}/-/ready`), 30_000, explainAll);

    // Traffic the dashboards show: reads, and an ingest with a rejected line (DLQ by reason).
    await until('the API /health', () => httpOk(`${api()}/health`), 60_000, explainAll);
    const ingest = await fetch(`${api()}/events`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-ndjson' },
      body: [
        JSON.stringify({
          event_id: 'obs-1',
          ts: new Date().toISOString(),
          event_type: 'donation',
          stream_id: 'obs_stream',
          user_id: 'u1',
          amount_usd: 5,
        }),
        '{"broken',
      ].join('\n'),
    });
    assert.equal(ingest.status, 202, await ingest.text());
    for (const p of [
      '/health',
      '/metrics/latest',
      '/streams/top?minutes=10&by=donations_usd&n=5',
      '/kpi/summary',
      '/dag/runs',
    ]) {
      assert.ok(await httpOk(`${api()}${p}`), `GET ${p}`);
    }

    // The day of history through the whole DAG on the test database: `rtsa dag run` queues it,
    // the worker runs it (wait_for_silver waits until silver closed the day) and it follows it to
    // its end; exit 0 only when the run succeeded.
    // The scheduler and the worker must be alive first: else `dag run` executes the run itself.
    await until(
      'the scheduler and the worker heart-beating',
      async () => {
        const { rows } = await (db as TestDatabase).pool.query<{ role: string }>(
          'SELECT DISTINCT role FROM orchestration.processes',
        );
        return rows.length === 2 ? true : undefined;
      },
      60_000,
      explainAll,
    );
    const dagRun = await runRtsa(
      ['dag', 'run', '--date', HISTORY_DATE, '--database-url', db.url, '--data-dir', pipelineDir],
      { name: 'dag run' },
    );
    assert.doesNotMatch(dagRun.out, /this process runs the DAG/, 'the worker ran it, not `dag run` itself');
    assert.equal(dagRun.code, 0, `rtsa dag run --date ${HISTORY_DATE}:\n${dagRun.out}\n${explainAll()}`);

    await until(
      'every rtsa scrape target up',
      async () => {
        const res = await fetch(`${prom()}/api/v1/targets?state=active`);
        const body = (await res.json()) as {
          data: { activeTargets: { labels: Record<string, string>; health: string }[] };
        };
        const up = new Set(body.data.activeTargets.filter((t) => t.health === 'up').map((t) => t.labels.job));
        return JOBS.every((j) => up.has(j)) ? true : undefined;
      },
      60_000,
      explainAll,
    );
  });

  after(async () => {
    await stop(prometheus, 'SIGTERM');
    // The processor and generator first (they use the test database and the second log).
    await Promise.all(children.filter((c) => c !== startChildProc).map((c) => stop(c)));
    await stop(startChildProc);
    if (startChildProc?.proc.signalCode === 'SIGKILL') await stopOrphanPostgres(path.join(dir, 'start'));
    await db?.drop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  test('promtool accepts the config and the rules, and the alert unit tests pass', async () => {
    for (const args of [
      ['check', 'config', path.join(PROM_DIR, 'prometheus.yml')],
      ['check', 'config', path.join(dir, 'prometheus.yml')],
      ['test', 'rules', path.join(PROM_DIR, 'tests/rtsa-alerts.test.yml')],
      ['test', 'rules', path.join(PROM_DIR, 'tests/rtsa-lakehouse-alerts.test.yml')],
    ]) {
      const result = await run(PROMTOOL_BIN, args, { cwd: PROM_DIR }).catch(
        (error: { stdout?: string; stderr?: string }) => {
          assert.fail(`promtool ${args.join(' ')} failed:\n${error.stdout ?? ''}${error.stderr ?? ''}`);
        },
      );
      assert.match(result.stdout + result.stderr, /SUCCESS/, `promtool ${args.join(' ')}`);
    }
  });

  test("the seed's metric names are exposed at GET /prometheus and scraped", async () => {
    const text = await httpOk(`${api()}/prometheus`);
    assert.ok(text);
    for (const name of SEED_METRICS) {
      assert.match(text, new RegExp(`^# TYPE ${name} `, 'm'), `${name} in GET /prometheus`);
    }
    const names = await until(
      'the seed metrics in Prometheus',
      async () => {
        const res = await fetch(`${prom()}/api/v1/label/__name__/values`);
        const all = new Set(((await res.json()) as { data: string[] }).data);
        const base = (n: string) => (all.has(n) || all.has(`${n}_bucket`) ? n : undefined);
        return SEED_METRICS.every((n) => base(n)) ? all : undefined;
      },
      20_000,
    );
    assert.ok(names.has('api_http_request_duration_seconds_bucket'), 'the duration is a histogram');
  });

  test('docs/observability.md lists exactly the rtsa_* and api_* metrics the roles expose', async () => {
    const exposed = new Set<string>();
    for (const url of [
      `${api()}/prometheus`,
      `http://127.0.0.1:${processorPort}/metrics`,
      `http://127.0.0.1:${generatorPort}/metrics`,
      `http://127.0.0.1:${bronzePort}/metrics`,
      `http://127.0.0.1:${silverPort}/metrics`,
      `http://127.0.0.1:${schedulerPort}/metrics`,
      `http://127.0.0.1:${workerPort}/metrics`,
    ]) {
      const text = (await httpOk(url)) ?? '';
      for (const m of text.matchAll(/^# TYPE ((?:api|rtsa)_\w+) /gm)) exposed.add(m[1] as string);
    }
    const docs = await readFile(path.join(ROOT, 'docs/observability.md'), 'utf8');
    const documented = new Set(
      [...docs.matchAll(/^\| `((?:api|rtsa)_\w+)/gm)].map((m) => (m[1] as string).replace(/\{.*$/, '')),
    );
    assert.deepEqual([...exposed].sort(), [...documented].sort());
  });

  test('the standalone generator and the one inside `rtsa start` export rtsa_generator_*', async () => {
    const series = await until(
      'rtsa_generator_events_total from two jobs',
      async () => {
        const r = await promQuery('sum by (job) (rtsa_generator_events_total{valid="true"}) > 0');
        return r.length === 2 ? r : undefined;
      },
      20_000,
    );
    assert.deepEqual(series.map((s) => s.metric.job).sort(), ['rtsa-api', 'rtsa-generator']);
    const rates = await promQuery('rtsa_generator_target_rate');
    assert.ok(rates.length === 2 && rates.every((s) => s.value[1] === '200'), JSON.stringify(rates));
  });

  test('every query of every panel of the three dashboards returns data', async () => {
    const pending = new Map<string, { query: string; last: string }>();
    for (const file of DASHBOARDS) {
      const d = await loadDashboard(file);
      for (const p of allPanels(d)) {
        for (const t of p.targets ?? []) {
          const query = toPromQL(t.expr ?? '', d);
          pending.set(`${d.uid} / ${p.title} / ${t.refId}`, { query, last: '' });
        }
      }
    }
    assert.ok(pending.size >= 20, `only ${pending.size} queries`);
    const deadline = Date.now() + 45_000;
    while (pending.size > 0 && Date.now() < deadline) {
      await Promise.all(
        [...pending].map(async ([name, q]) => {
          try {
            const result = await promQuery(q.query);
            if (result.length > 0) pending.delete(name);
            else q.last = 'empty result';
          } catch (error) {
            q.last = String(error);
          }
        }),
      );
      if (pending.size > 0) await new Promise((r) => setTimeout(r, 500));
    }
    assert.equal(
      pending.size,
      0,
      `queries without data after 45 s:\n${[...pending].map(([n, q]) => `  ${n}: ${q.query}  (${q.last})`).join('\n')}`,
    );
  });

  test("the DAG and quality metrics of the standalone roles agree with the test database's history", async () => {
    assert.ok(db);
    const runs = await db.pool.query<{ status: string; n: number }>(
      'SELECT status, count(*)::int AS n FROM orchestration.runs GROUP BY status',
    );
    assert.deepEqual(runs.rows, [{ status: 'succeeded', n: 1 }]);
    const attempts = await db.pool.query<{ task: string; n: number }>(
      `SELECT task, count(*)::int AS n FROM orchestration.attempts WHERE status = 'succeeded' GROUP BY task ORDER BY task`,
    );
    const byJob = (job: string) => `{job="${job}"}`;
    const vector = async (q: string) =>
      Object.fromEntries(
        (await promQuery(q)).map((r) => [Object.values(r.metric).join(','), Number(r.value[1])]),
      );
    await until(
      'the run history and the task attempts in Prometheus',
      async () => {
        for (const job of ['rtsa-scheduler', 'rtsa-worker']) {
          const statuses = await vector(`max by (status) (rtsa_dag_runs${byJob(job)})`);
          const expected = { queued: 0, running: 0, succeeded: 1, failed: 0, timed_out: 0 };
          if (JSON.stringify(statuses, Object.keys(expected)) !== JSON.stringify(expected)) return undefined;
          if ((await vector(`max(rtsa_dag_last_run_failed${byJob(job)})`))[''] !== 0) return undefined;
        }
        const perTask = await vector(
          'sum by (task) (rtsa_dag_task_duration_seconds_count{job="rtsa-worker",status="succeeded"})',
        );
        const fromDb = Object.fromEntries(attempts.rows.map((r) => [r.task, r.n]));
        if (JSON.stringify(perTask, Object.keys(fromDb).sort()) !== JSON.stringify(fromDb)) return undefined;
        const alive = await vector('max by (role) (rtsa_dag_processes{job="rtsa-scheduler"})');
        if (alive.scheduler !== 1 || alive.worker !== 1) return undefined;
        const dq = await vector('max(rtsa_quality_last_run_failed{job="rtsa-lake"})');
        return dq[''] === 0 ? true : undefined;
      },
      30_000,
      explainAll,
    );
    assert.equal(attempts.rows.length, 5, 'each of the five tasks succeeded once');
  });

  test('every recording rule yields data', async () => {
    const text = await readFile(path.join(PROM_DIR, 'rules/rtsa-recording.yml'), 'utf8');
    const records = [...text.matchAll(/^\s+- record:\s*(\S+)/gm)].map((m) => m[1] as string);
    assert.ok(records.length > 0);
    const missing = await until(
      'recording rules with data',
      async () => {
        const empty: string[] = [];
        for (const r of records) if ((await promQuery(r)).length === 0) empty.push(r);
        return empty.length === 0 ? empty : undefined;
      },
      30_000,
      () => `recording rules: ${records.join(', ')}`,
    );
    assert.deepEqual(missing, []);
  });

  test('the overview shows a live pipeline, and no alert fires', async () => {
    const value = async (q: string) => {
      const r = await promQuery(q);
      return r.length > 0 ? Number(r[0]?.value[1]) : undefined;
    };
    await until(
      'db ok, recent rows, a fresh window, traffic',
      async () => {
        const ok = await value('min(api_db_ok)');
        const rows = await value('max(api_stream_metrics_rows_recent)');
        const age = await value('max(api_latest_window_age_seconds)');
        const rps = await value(`sum(rate(api_http_requests_total[${RATE_INTERVAL}]))`);
        const eps = await value(`sum(rate(rtsa_processor_events_total[${RATE_INTERVAL}]))`);
        return ok === 1 && rows! > 0 && age! < 120 && rps! > 0 && eps! > 0 ? true : undefined;
      },
      30_000,
    );
    // A scrape that timed out on a loaded machine (up == 0 once) makes an alert pending until the next
    // one succeeds: wait for a moment with none, rather than judge one instant.
    let alerts: string[] = [];
    await until(
      'no alert pending or firing on a healthy pipeline',
      async () => {
        const res = await fetch(`${prom()}/api/v1/alerts`);
        const body = (await res.json()) as { data: { alerts: { labels: Record<string, string> }[] } };
        alerts = body.data.alerts.map((a) => `${a.labels.alertname} (${a.labels.job ?? ''})`);
        return alerts.length === 0 ? true : undefined;
      },
      30_000,
      () => `alerts: ${alerts.join(', ')}`,
    );
  });
});

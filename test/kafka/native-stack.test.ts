/**
 * The distributed stack as docker-compose runs it, natively: real Kafka, a real Postgres, a real S3
 * server (in MinIO's place), real Prometheus on deploy/prometheus/prometheus.yml, and the rtsa
 * roles of both systems as separate processes — `migrate` (one-shot), two `process`, `serve`,
 * `generate`, and system B's `lake` bronze, `lake` silver (into the bucket), `scheduler` and
 * `worker`. `rtsa smoke --prometheus-url` (both systems' checks) and `rtsa doctor` must pass;
 * after a processor is killed with -9 the other takes its partitions, and once it is restarted
 * (as compose would) smoke passes again.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { createTestDatabase, type TestDatabase } from '../helpers/postgres.ts';
import { type S3Server, startS3Server } from '../lakehouse/s3-server.ts';
import { kafkaBrokers, uniqueName } from './kafka-fixture.ts';

const PROMETHEUS_BIN = process.env.PROMETHEUS_BIN ?? '/usr/bin/prometheus';

interface Child {
  name: string;
  proc: ChildProcess;
  output: string[];
}

const children: Child[] = [];
let db: TestDatabase;
let s3: S3Server | undefined;
let dir: string;

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.listen(0, '127.0.0.1', () => {
      const p = (srv.address() as { port: number }).port;
      srv.close(() => resolve(p));
    });
  });
}

/** Only the settings each role is given on its command line, as compose gives them by env. */
function cleanEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (
      k.startsWith('RTSA_') ||
      ['DATABASE_URL', 'KAFKA_BROKERS', 'PORT', 'LOG_LEVEL', 'LOG_FORMAT'].includes(k)
    )
      continue;
    env[k] = v;
  }
  return env;
}

function spawnChild(name: string, command: string, args: string[]): Child {
  const proc = spawn(command, args, { env: cleanEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
  const child: Child = { name, proc, output: [] };
  const keep = (chunk: Buffer) => {
    child.output.push(...chunk.toString('utf8').split('\n').filter(Boolean));
    if (child.output.length > 60) child.output.splice(0, child.output.length - 60);
  };
  proc.stdout?.on('data', keep);
  proc.stderr?.on('data', keep);
  children.push(child);
  return child;
}

function rtsa(name: string, args: string[]): Child {
  return spawnChild(name, process.execPath, [
    'src/cli/main.ts',
    ...args,
    '--log-format',
    'json',
    '--log-level',
    'warn',
  ]);
}

function exitCode(child: Child): Promise<number | null> {
  return new Promise((resolve) => {
    if (child.proc.exitCode !== null || child.proc.signalCode !== null) resolve(child.proc.exitCode);
    else child.proc.once('exit', (code) => resolve(code));
  });
}

async function until<T>(what: string, fn: () => Promise<T | undefined>, ms: number): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await fn().catch(() => undefined);
    if (v !== undefined) return v;
    assert.ok(Date.now() < deadline, `timed out waiting for ${what}\n${tails()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

function tails(): string {
  return children.map((c) => `--- ${c.name} ---\n${c.output.slice(-15).join('\n')}`).join('\n');
}

before(async () => {
  assert.ok(
    existsSync(PROMETHEUS_BIN),
    `${PROMETHEUS_BIN} is missing: apt-get install -y prometheus (or set PROMETHEUS_BIN)`,
  );
  db = await createTestDatabase('stack');
  dir = await mkdtemp(path.join(tmpdir(), 'rtsa-stack-'));
  s3 = await startS3Server();
});

after(async () => {
  for (const c of children) {
    if (c.proc.exitCode === null && c.proc.signalCode === null) {
      c.proc.kill('SIGINT');
      const timer = setTimeout(() => c.proc.kill('SIGKILL'), 10_000);
      await exitCode(c);
      clearTimeout(timer);
    }
  }
  await s3?.stop();
  await db.drop();
  await rm(dir, { recursive: true, force: true });
});

test('the compose roles run natively on Kafka, pass rtsa smoke and doctor, and survive a kill -9', {
  timeout: 360_000,
}, async () => {
  assert.ok(s3);
  const brokers = kafkaBrokers().join(',');
  const topic = uniqueName('stack');
  const commerceTopic = uniqueName('stack-commerce');
  const group = uniqueName('stack-group');
  const [apiPort, p1, p2, genPort, bronzePort, silverPort, schedulerPort, workerPort, promPort] =
    (await Promise.all(Array.from({ length: 9 }, () => freePort()))) as [
      number,
      number,
      number,
      number,
      number,
      number,
      number,
      number,
      number,
    ];
  const common = [
    '--kafka-brokers',
    brokers,
    '--topic',
    topic,
    '--commerce-topic',
    commerceTopic,
    '--partitions',
    '6',
    '--data-dir',
    dir,
  ];
  // The lake in the bucket, as compose's x-lake-env puts it in MinIO.
  const lake = [
    '--lake-url',
    `s3://${s3.bucket}/`,
    '--s3-endpoint',
    s3.endpoint,
    '--s3-access-key-id',
    s3.accessKeyId,
    '--s3-secret-access-key',
    s3.secretAccessKey,
  ];
  const withDb = [...common, '--database-url', db.url];
  const processorArgs = [
    ...withDb,
    '--consumer-group',
    group,
    '--kafka-session-timeout',
    '6s',
    '--flush-interval',
    '200ms',
  ];

  const migrate = rtsa('migrate', ['migrate', '--database-url', db.url, '--data-dir', dir]);
  assert.equal(await exitCode(migrate), 0, `migrate exits 0\n${tails()}`);
  const processors = [
    rtsa('processor-1', ['process', ...processorArgs, '--metrics-port', String(p1)]),
    rtsa('processor-2', ['process', ...processorArgs, '--metrics-port', String(p2)]),
  ];
  rtsa('api', ['serve', ...withDb, '--consumer-group', group, '--port', String(apiPort)]);
  rtsa('generator', [
    'generate',
    ...common,
    '--rate',
    '200',
    '--streams',
    '30',
    '--metrics-port',
    String(genPort),
  ]);
  // System B: one lake writer per layer (compose's lake-bronze and lake-silver), the DAG's
  // scheduler and a worker.
  const lakeArgs = [...withDb, ...lake, '--lake-flush-interval', '1s', '--kafka-session-timeout', '6s'];
  const silverArgs = ['lake', ...lakeArgs, '--lake-layers', 'silver', '--metrics-port', String(silverPort)];
  rtsa('lake-bronze', ['lake', ...lakeArgs, '--lake-layers', 'bronze', '--metrics-port', String(bronzePort)]);
  let silver = rtsa('lake-silver', silverArgs);
  rtsa('scheduler', [
    'scheduler',
    '--database-url',
    db.url,
    '--data-dir',
    dir,
    '--metrics-port',
    String(schedulerPort),
  ]);
  rtsa('worker', ['worker', ...withDb, ...lake, '--metrics-port', String(workerPort)]);

  // Prometheus on the real deploy config, with the compose service names swapped for loopback ports.
  let config = await readFile('deploy/prometheus/prometheus.yml', 'utf8');
  const swap = (from: string, to: string) => {
    assert.equal(config.split(from).length - 1, 1, `deploy/prometheus/prometheus.yml has ${from} once`);
    config = config.replace(from, to);
  };
  swap("'api:8000'", `'127.0.0.1:${apiPort}'`);
  swap("'processor:9464'", `'127.0.0.1:${p1}', '127.0.0.1:${p2}'`);
  swap("'generator:9465'", `'127.0.0.1:${genPort}'`);
  swap("'lake-bronze:9466', 'lake-silver:9466'", `'127.0.0.1:${bronzePort}', '127.0.0.1:${silverPort}'`);
  swap("'scheduler:9467'", `'127.0.0.1:${schedulerPort}'`);
  swap(
    "dns_sd_configs:\n      - names: ['worker']\n        type: A\n        port: 9468\n        refresh_interval: 15s",
    `static_configs:\n      - targets: ['127.0.0.1:${workerPort}']`,
  );
  swap("'localhost:9090'", `'127.0.0.1:${promPort}'`);
  swap('scrape_interval: 5s', 'scrape_interval: 1s');
  swap('scrape_timeout: 4s', 'scrape_timeout: 1s');
  await cp('deploy/prometheus/rules', path.join(dir, 'rules'), { recursive: true });
  await writeFile(path.join(dir, 'prometheus.yml'), config);
  spawnChild('prometheus', PROMETHEUS_BIN, [
    `--config.file=${path.join(dir, 'prometheus.yml')}`,
    `--storage.tsdb.path=${path.join(dir, 'tsdb')}`,
    `--web.listen-address=127.0.0.1:${promPort}`,
  ]);
  const prometheusUrl = `http://127.0.0.1:${promPort}`;
  const apiUrl = `http://127.0.0.1:${apiPort}`;

  await until('API healthy', async () => ((await fetch(`${apiUrl}/health`)).ok ? true : undefined), 60_000);
  await until(
    'every Prometheus target up',
    async () => {
      const body = (await (await fetch(`${prometheusUrl}/api/v1/targets`)).json()) as {
        data: { activeTargets: { health: string }[] };
      };
      const targets = body.data.activeTargets;
      return targets.length === 9 && targets.every((t) => t.health === 'up') ? true : undefined;
    },
    60_000,
  );

  const smoke = async (label: string) => {
    const run = rtsa(label, [
      'smoke',
      ...withDb,
      '--consumer-group',
      group,
      '--api-url',
      apiUrl,
      '--prometheus-url',
      prometheusUrl,
    ]);
    const code = await exitCode(run);
    assert.equal(code, 0, `${label} passes\n${run.output.join('\n')}\n${tails()}`);
    const out = run.output.join('\n');
    assert.match(out, /✓ commerce event in bronze and silver: /, out);
    assert.match(out, /✓ DAG scheduler and worker: 1 scheduler, 1 worker alive/, out);
  };
  await smoke('smoke');
  const doctor = rtsa('doctor', [
    'doctor',
    ...withDb,
    '--consumer-group',
    group,
    '--api-url',
    apiUrl,
    '--prometheus-url',
    prometheusUrl,
  ]);
  assert.equal(await exitCode(doctor), 0, `doctor finds nothing wrong\n${doctor.output.join('\n')}`);

  // kill -9 one processor: the other takes all six partitions (fencing the dead one) and goes on.
  processors[0]!.proc.kill('SIGKILL');
  await exitCode(processors[0]!);
  await until(
    'processor-2 owns every partition',
    async () => {
      const { rows } = await db.pool.query<{ owners: number; n: number }>(
        'SELECT count(DISTINCT owner)::int AS owners, count(*)::int AS n FROM processor_partitions WHERE consumer_group = $1',
        [group],
      );
      return rows[0]!.n === 6 && rows[0]!.owners === 1 ? true : undefined;
    },
    60_000,
  );
  // As compose would (restart: unless-stopped), start it again: the group rebalances over both.
  processors[0] = rtsa('processor-1 again', ['process', ...processorArgs, '--metrics-port', String(p1)]);
  await until(
    'both processors own partitions again',
    async () => {
      const { rows } = await db.pool.query<{ owners: number }>(
        'SELECT count(DISTINCT owner)::int AS owners FROM processor_partitions WHERE consumer_group = $1',
        [group],
      );
      return rows[0]!.owners === 2 ? true : undefined;
    },
    60_000,
  );
  await smoke('smoke after kill -9 and restart');

  // System B broken: the silver writer killed. Smoke fails on the smoke purchase and names silver;
  // restarted (as compose would), it resumes from its committed offsets and smoke passes again.
  silver.proc.kill('SIGKILL');
  await exitCode(silver);
  const broken = rtsa('smoke without silver', [
    'smoke',
    ...withDb,
    '--consumer-group',
    group,
    '--api-url',
    apiUrl,
    '--wait',
    '8s',
  ]);
  assert.equal(await exitCode(broken), 1, broken.output.join('\n'));
  const out = broken.output.join('\n');
  assert.match(
    out,
    /✗ commerce event in bronze and silver: .*bronze: committed; silver: not past partition/,
    out,
  );
  assert.match(out, /→ the writer is stuck or gone: `make logs s=lake-bronze`/, out);
  silver = rtsa('lake-silver again', silverArgs);
  await smoke('smoke after the silver writer restarted');
});

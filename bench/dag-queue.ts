/**
 * pg-boss on this machine, as the DAG uses it: how long an idle worker takes to claim a job (send →
 * handler start, one job at a time, polling every 0.5 s as in the tests; 2 s is the default), and
 * how many jobs a second one queue moves with batched fetches. The measurement behind the choice
 * in docs/decisions.md. Run: node bench/dag-queue.ts
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { PgBoss } from 'pg-boss';
import { startEmbeddedPostgres } from '../src/db/index.ts';
import { silentLogger } from '../src/telemetry/logger.ts';

const dir = await mkdtemp(path.join(tmpdir(), 'boss-bench-'));
const pgh = await startEmbeddedPostgres(dir, silentLogger());
const boss = new PgBoss({ connectionString: pgh.url, schema: 'pgboss', max: 4 });
boss.on('error', () => {});
let t = performance.now();
await boss.start();
const startMs = Math.round(performance.now() - t);

// 1. Claim latency of a lone job.
await boss.createQueue('lone');
let started: (() => void) | undefined;
await boss.work('lone', { pollingIntervalSeconds: 0.5 }, async () => started?.());
const lat: number[] = [];
for (let i = 0; i < 40; i++) {
  const claimed = new Promise<void>((r) => {
    started = r;
  });
  const s = performance.now();
  await boss.send('lone', { i });
  await claimed;
  lat.push(performance.now() - s);
}
lat.sort((a, b) => a - b);

// 2. Throughput: 5,000 jobs inserted at once, fetched 50 at a time.
await boss.createQueue('bulk');
const N = 5_000;
let done = 0;
let all: () => void = () => {};
const finished = new Promise<void>((r) => {
  all = r;
});
await boss.work(
  'bulk',
  { pollingIntervalSeconds: 0.5, batchSize: 50, burstWhenBatchFull: true },
  async (jobs) => {
    done += jobs.length;
    if (done >= N) all();
  },
);
t = performance.now();
await boss.insert(
  'bulk',
  Array.from({ length: N }, (_, i) => ({ data: { i } })),
);
await finished;
const bulkSeconds = (performance.now() - t) / 1000;
console.log(
  JSON.stringify({
    startMs,
    loneClaimMs: { p50: Math.round(lat[20]!), max: Math.round(lat[39]!) },
    bulkJobsPerSecond: Math.round(N / bulkSeconds),
  }),
);
await boss.stop({ graceful: false });
await pgh.stop();
await rm(dir, { recursive: true, force: true });

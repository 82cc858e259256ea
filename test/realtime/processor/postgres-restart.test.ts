/**
 * Postgres restarts while events flow: the processor keeps its batch, reports unhealthy, retries
 * with back-off, resumes when Postgres is back — and the tables equal the batch oracle.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { Registry } from 'prom-client';
import { EmbeddedBus } from '../../../src/bus/embedded/index.ts';
import { loadConfig } from '../../../src/config/index.ts';
import { createEventGenerator, parseWeights } from '../../../src/generator/index.ts';
import { startProcessorRole } from '../../../src/runtime/processor-role.ts';
import {
  createPool,
  type EmbeddedPostgresHandle,
  migrate,
  startEmbeddedPostgres,
} from '../../../src/db/index.ts';
import { silentLogger } from '../../../src/telemetry/logger.ts';
import {
  assertTablesMatchOracle,
  readAllRecords,
  waitCommittedToEnd,
} from '../../helpers/pipeline-oracle.ts';

const TOPIC = 'stream.events';
let dir: string;
let port: number;
let pg: EmbeddedPostgresHandle;
let bus: EmbeddedBus;

before(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'rtsa-pgrestart-'));
  port = await new Promise<number>((resolve) => {
    const srv = createServer();
    srv.listen(0, '127.0.0.1', () => {
      const p = (srv.address() as { port: number }).port;
      srv.close(() => resolve(p));
    });
  });
  pg = await startEmbeddedPostgres(dir, silentLogger(), { port });
  bus = new EmbeddedBus({
    dir: path.join(dir, 'log'),
    fsync: 'never',
    retentionMs: 86_400_000,
    segmentBytes: 1 << 20,
  });
});

after(async () => {
  await bus.close();
  await pg.stop();
  await rm(dir, { recursive: true, force: true });
});

/** Polls `condition` until it holds; fails naming `what` after the deadline. */
async function until(what: string, condition: () => boolean | Promise<boolean>, ms = 30_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await condition())) {
    assert.ok(Date.now() < deadline, `timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

test('Postgres restarted mid-run: unhealthy meanwhile, then nothing lost or doubled', {
  timeout: 120_000,
}, async () => {
  const pool = createPool(pg.url, 5);
  await migrate(pool);
  const { config } = loadConfig(
    'process',
    ['--flush-interval', '50ms', '--idle-timeout', '1h', '--watermark-delay', '2m'],
    {},
  );
  const role = await startProcessorRole({
    config,
    bus,
    pool,
    registry: new Registry(),
    logger: silentLogger(),
  });
  let now = Date.parse('2026-05-02T10:00:00Z');
  const gen = createEventGenerator({
    streams: 8,
    users: 40,
    weights: parseWeights('viewer_join=25,viewer_leave=18,chat_message=40,donation=8,stream_stop=1'),
    seed: 5,
    badRate: 0.02,
    now: () => now,
  });
  const sink = bus.sink();
  let sending = true;
  let batches = 0;
  const sender = (async () => {
    while (sending) {
      const batch = [];
      for (let i = 0; i < 20; i++) {
        now += 53;
        batch.push(gen.next());
      }
      await sink.send(
        TOPIC,
        batch.map((e) => ({ key: e.key, value: e.value })),
      );
      batches++;
      await new Promise((r) => setTimeout(r, 10));
    }
  })();
  const committed = async () =>
    (
      await pool.query<{ n: number }>(
        'SELECT coalesce(sum(committed_offset), 0)::int AS n FROM processor_partitions',
      )
    ).rows[0]!.n;
  // Traffic before, during and after the outage, measured in batches sent (each about a second of
  // event time), not in sleeps: a loaded machine sends the same data, only later.
  await until('a first commit', async () => (await committed()) > 0);
  await pg.stop();
  await until('the processor reports unhealthy while Postgres is down', () => role.health === 'unhealthy');
  const downAt = batches;
  await until('events sent while Postgres is down', () => batches >= downAt + 100);
  pg = await startEmbeddedPostgres(dir, silentLogger(), { port });
  const upAt = batches;
  await until('events sent after the restart', () => batches >= upAt + 50);
  sending = false;
  await sender;

  await waitCommittedToEnd(pool, bus, TOPIC);
  await until('the processor healthy again', () => role.health === 'running');
  await role.stop();
  const windows = await assertTablesMatchOracle(pool, await readAllRecords(bus, TOPIC), config);
  assert.ok(windows.length > 10);
  await pool.end();
});

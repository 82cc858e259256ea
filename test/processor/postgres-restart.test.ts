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
import { EmbeddedBus } from '../../src/bus/embedded/index.ts';
import { loadConfig } from '../../src/config/index.ts';
import { createEventGenerator, parseWeights } from '../../src/generator/index.ts';
import { startProcessorRole } from '../../src/runtime/processor-role.ts';
import {
  createPool,
  type EmbeddedPostgresHandle,
  migrate,
  startEmbeddedPostgres,
} from '../../src/store/index.ts';
import { silentLogger } from '../../src/telemetry/logger.ts';
import { assertTablesMatchOracle, readAllRecords, waitCommittedToEnd } from '../helpers/pipeline-oracle.ts';

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
      await new Promise((r) => setTimeout(r, 10));
    }
  })();
  await new Promise((r) => setTimeout(r, 1_000));
  await pg.stop();
  const deadline = Date.now() + 20_000;
  while (role.processor.health !== 'unhealthy') {
    assert.ok(Date.now() < deadline, 'the processor reports unhealthy while Postgres is down');
    await new Promise((r) => setTimeout(r, 20));
  }
  await new Promise((r) => setTimeout(r, 1_500));
  pg = await startEmbeddedPostgres(dir, silentLogger(), { port });
  await new Promise((r) => setTimeout(r, 1_000));
  sending = false;
  await sender;

  await waitCommittedToEnd(pool, bus, TOPIC);
  assert.equal(role.processor.health, 'running');
  await role.stop();
  const windows = await assertTablesMatchOracle(pool, await readAllRecords(bus, TOPIC), config);
  assert.ok(windows.length > 10);
  await pool.end();
});

/**
 * Fuzz suite (issue 11), the other door: hostile records written straight to the log (as any Kafka
 * producer could, past the HTTP edge) and read by a real processor on a real Postgres. After each
 * batch the tables equal the batch oracle, every valid record is counted once in its stream, every
 * invalid one is dead-lettered with a reason, and a processor restarted on the same data agrees.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import fc from 'fast-check';
import { Registry } from 'prom-client';
import { EmbeddedBus } from '../../src/bus/embedded/index.ts';
import { loadConfig } from '../../src/config/index.ts';
import { type ProcessorRole, startProcessorRole } from '../../src/runtime/processor-role.ts';
import { silentLogger } from '../../src/telemetry/logger.ts';
import { assertTablesMatchOracle, readAllRecords, waitCommittedToEnd } from '../helpers/pipeline-oracle.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/postgres.ts';
import { type HostileLine, hostileBatch } from './hostile-events.ts';

const RUNS = Number(process.env.RTSA_FUZZ_RUNS ?? 80);
let db: TestDatabase;
let dir: string;
let bus: EmbeddedBus;

before(async () => {
  db = await createTestDatabase('fuzz_log');
  dir = await mkdtemp(path.join(tmpdir(), 'rtsa-fuzz-log-'));
  bus = new EmbeddedBus({ dir, fsync: 'never', retentionMs: 86_400_000, segmentBytes: 1 << 22 });
});

after(async () => {
  await bus.close();
  await db.drop();
  await rm(dir, { recursive: true, force: true });
});

test('hostile records on the log: processed or dead-lettered with a reason, never fatal, restart agrees', {
  timeout: 170_000,
}, async () => {
  const { config } = loadConfig(
    'process',
    ['--partitions', '2', '--flush-interval', '20ms', '--idle-timeout', '1h'],
    {},
  );
  await bus.ensureTopic(config.topic, 2);
  const sink = bus.sink();
  const expected = new Map<string, number>();
  let invalid = 0;
  const startRole = (): Promise<ProcessorRole> =>
    startProcessorRole({ config, bus, pool: db.pool, registry: new Registry(), logger: silentLogger() });
  let role = await startRole();
  let run = 0;
  try {
    await fc.assert(
      fc.asyncProperty(
        fc
          .constant(null)
          .chain(() =>
            hostileBatch({ now: Date.now(), skewMs: config.maxFutureSkewMs, run: `L${run++}` }, 40),
          ),
        fc.boolean(),
        async (lines: HostileLine[], restart: boolean) => {
          await sink.send(
            config.topic,
            lines.map((l, i) => ({ key: l.stream ?? `k${i}`, value: l.line })),
          );
          for (const l of lines) {
            if (l.valid) expected.set(l.stream!, (expected.get(l.stream!) ?? 0) + 1);
            else invalid++;
          }
          if (restart) {
            await role.stop();
            role = await startRole();
          }
          await waitCommittedToEnd(db.pool, bus, config.topic, 30_000);
          assert.equal(role.health, 'running', role.healthDetail);
        },
      ),
      { numRuns: RUNS, seed: Number(process.env.RTSA_FUZZ_SEED ?? 7), endOnFailure: true },
    );
  } finally {
    await role.stop();
  }
  await assertTablesMatchOracle(db.pool, await readAllRecords(bus, config.topic), config);
  const { rows } = await db.pool.query<{ stream_id: string; n: number }>(
    'SELECT stream_id, sum(events)::int AS n FROM stream_metrics_minute GROUP BY stream_id',
  );
  assert.deepEqual(
    rows.map((r) => [r.stream_id, r.n]).sort(([a], [b]) => (a! < b! ? -1 : 1)),
    [...expected].sort(([a], [b]) => (a < b ? -1 : 1)),
    'every valid record counted exactly once, in its own stream',
  );
  const dead = await db.pool.query<{ n: number; unreasoned: number }>(
    `SELECT count(*)::int AS n, count(*) FILTER (WHERE reason = '' OR detail = '')::int AS unreasoned FROM dead_letter_events`,
  );
  assert.deepEqual(
    dead.rows[0],
    { n: invalid, unreasoned: 0 },
    'every invalid record dead-lettered with a reason',
  );
});

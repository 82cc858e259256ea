/**
 * Exact money at any size (issue 11): a window's donation sum past 2^53 micro-dollars (about 9
 * billion USD) stays exact, from the engine through Postgres, where a double would round it.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { Registry } from 'prom-client';
import { EmbeddedBus } from '../../../src/bus/embedded/index.ts';
import { loadConfig } from '../../../src/config/index.ts';
import { MAX_DONATION_USD } from '../../../src/events/index.ts';
import { startProcessorRole } from '../../../src/runtime/processor-role.ts';
import { microsToDecimal } from '../../../src/realtime/serving/results-writer.ts';
import { silentLogger } from '../../../src/telemetry/logger.ts';
import { waitCommittedToEnd } from '../../helpers/pipeline-oracle.ts';
import { createTestDatabase, type TestDatabase } from '../../helpers/postgres.ts';

let db: TestDatabase;
let dir: string;
let bus: EmbeddedBus;

before(async () => {
  db = await createTestDatabase('money');
  dir = await mkdtemp(path.join(tmpdir(), 'rtsa-money-'));
  bus = new EmbeddedBus({ dir, fsync: 'never', retentionMs: 86_400_000, segmentBytes: 1 << 24 });
});

after(async () => {
  await bus.close();
  await db.drop();
  await rm(dir, { recursive: true, force: true });
});

test('microsToDecimal is exact beyond 2^53', () => {
  assert.equal(microsToDecimal(2n ** 53n + 1n), '9007199254.740993');
  assert.equal(microsToDecimal(-1_500_000n), '-1.500000');
  assert.equal(microsToDecimal(12), '0.000012');
});

test('Regression: donation sums stay exact beyond 2^53 micro-dollars in one window', async () => {
  const { config } = loadConfig('process', ['--flush-interval', '50ms', '--idle-timeout', '1h'], {});
  await bus.ensureTopic(config.topic, 1);
  const ts = new Date(Date.now() - 60_000).toISOString();
  const amount = MAX_DONATION_USD - 0.000001; // 999999.999999 USD
  const n = 9_100;
  const messages = Array.from({ length: n }, (_, i) => ({
    key: 'rich',
    value: JSON.stringify({
      event_id: `d${i}`,
      ts,
      event_type: 'donation',
      stream_id: 'rich',
      user_id: `u${i}`,
      amount_usd: amount,
    }),
  }));
  await bus.sink().send(config.topic, messages);
  const role = await startProcessorRole({
    config,
    bus,
    pool: db.pool,
    registry: new Registry(),
    logger: silentLogger(),
  });
  try {
    await waitCommittedToEnd(db.pool, bus, config.topic, 60_000);
  } finally {
    await role.stop();
  }
  const { rows } = await db.pool.query(
    `SELECT donations_usd::text AS usd, donation_count FROM stream_metrics_minute WHERE stream_id = 'rich'`,
  );
  const expected = BigInt(n) * 999_999_999_999n;
  assert.ok(expected > 2n ** 53n);
  assert.deepEqual(rows, [{ usd: microsToDecimal(expected), donation_count: n }]);
  assert.equal(rows[0]!.usd, '9099999999.990900');
  assert.notEqual(String(Number(expected) / 1e6), rows[0]!.usd, 'a double would not have kept it');
});

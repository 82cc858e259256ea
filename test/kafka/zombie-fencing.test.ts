/**
 * Zombie fencing end to end (SPEC §4 item 8), with real `rtsa process` children on a real broker:
 * processor A is frozen (SIGSTOP) past the session timeout, B takes its partitions over (its
 * claims bump the epochs) and commits; then A wakes up (SIGCONT) with work in memory. A must not
 * write anything for the partitions it lost: its commit is refused (it logs that it was fenced),
 * owner and epoch stay B's until A has re-joined the group and claimed anew, no position ever
 * moves backwards, and the final tables equal the batch oracle (nothing counted twice).
 *
 * Regression: a zombie frozen *inside* its commit transaction held the row locks of its
 * partitions, so the new owner's claim waited for as long as the zombie stayed frozen (forever,
 * for a stopped process or a silent network partition). The processor's connections now end
 * such a transaction on the server after `idle_in_transaction_session_timeout`.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { partitionForKey } from '../../src/bus/partitioner.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/postgres.ts';
import {
  deleteTopics,
  kafkaBrokers,
  type TestKafkaBus,
  testBus,
  uniqueName,
  waitFor,
} from './kafka-fixture.ts';
import {
  assertNoZombieWrites,
  endOffsets,
  expectTablesEqualOracle,
  Feeder,
  installPartitionAudit,
  isFencedWarning,
  killAllChildren,
  laneTraffic,
  type PartitionRow,
  partitionHistory,
  partitionRows,
  heldPartitions,
  type RtsaChild,
  readTopic,
  startProcessor,
  waitCaughtUp,
  workingSteadily,
} from './pipeline-fixture.ts';

const PARTITIONS = 6;
const DELAY_MS = 120_000;
const SKEW_MS = 15 * 60_000;
const SESSION_MS = 6_000;

let bus: TestKafkaBus;
const databases: TestDatabase[] = [];

before(() => {
  kafkaBrokers(); // fails, never skips, without a broker
  bus = testBus();
});

after(async () => {
  await killAllChildren();
  await bus?.close();
  await deleteTopics(bus?.created ?? []);
  await Promise.allSettled(databases.map((d) => d.drop()));
});

async function setUp(name: string) {
  const db = await createTestDatabase(name.replaceAll('-', '_'));
  databases.push(db);
  await installPartitionAudit(db.pool);
  const topic = uniqueName(name);
  const group = uniqueName(`${name}-group`);
  await bus.ensureTopic(topic, PARTITIONS);
  const options = {
    brokers: kafkaBrokers(),
    topic,
    group,
    databaseUrl: db.url,
    watermarkDelayMs: DELAY_MS,
    sessionTimeoutMs: SESSION_MS,
    flushIntervalMs: 50,
    maxBatch: 300,
  };
  const owned = async (who: RtsaChild): Promise<PartitionRow[]> =>
    (await partitionRows(db.pool, group, topic)).filter((r) => r.owner === who.owner);
  return { db, topic, group, options, owned };
}

function diagnostics(...children: RtsaChild[]): string {
  return children.map((c) => c.tail(25)).join('\n');
}

test('a processor frozen past the session timeout is fenced when it wakes up', {
  timeout: 120_000,
}, async () => {
  const { db, topic, group, options, owned } = await setUp('zombie');
  const messages = laneTraffic(5, 4_000, DELAY_MS);
  assert.equal(
    new Set(messages.filter((m) => m.key !== '').map((m) => partitionForKey(m.key, PARTITIONS))).size,
    PARTITIONS,
  );
  // ~25 s of traffic: through A's freeze, B's takeover, A's return and the rebalance after it.
  const feeder = new Feeder(bus.sink(), topic, messages, { chunk: 10, pauseMs: 60 });
  const a = startProcessor('A', options);
  const b = startProcessor('B', options);
  await waitFor(
    'A and B to share the partitions and work steadily',
    async () =>
      (await workingSteadily(db.pool, group, topic, a)) &&
      (await workingSteadily(db.pool, group, topic, b)) &&
      heldPartitions(a).size + heldPartitions(b).size === PARTITIONS,
    60_000,
  ).catch((error: Error) => {
    throw new Error(`${error.message}\n${diagnostics(a, b)}`);
  });

  // Freeze A while it works: it keeps its partitions and its uncommitted state in memory.
  const lost = await owned(a);
  assert.deepEqual(
    lost.map((r) => r.partition),
    [...heldPartitions(a).keys()].sort((x, y) => x - y),
  );
  const frozenAt = new Map(lost.map((r) => [r.partition, r]));
  a.kill('SIGSTOP');
  const stoppedAt = Date.now();

  // B takes A's partitions over (after A's session expires), claims them and commits past A.
  await waitFor(
    "B to claim A's partitions and commit past A's positions",
    async () => {
      const rows = await partitionRows(db.pool, group, topic);
      return (
        rows.length === PARTITIONS &&
        rows.every((r) => r.owner === b.owner) &&
        lost.every((l) => {
          const now = rows.find((r) => r.partition === l.partition)!;
          return now.epoch > l.epoch && now.committed_offset > l.committed_offset;
        })
      );
    },
    60_000,
  ).catch((error: Error) => {
    throw new Error(`${error.message}\n${diagnostics(b)}`);
  });
  assert.ok(Date.now() - stoppedAt >= SESSION_MS - 1_000, 'B took over only after the session timeout');
  const takeover = new Map((await partitionRows(db.pool, group, topic)).map((r) => [r.partition, r]));

  // A wakes up, still believing it owns its partitions: its commit must be refused.
  const resumedAt = Date.now();
  a.kill('SIGCONT');
  // Each commit of A names the partitions it had pending; by the time A gave its partitions up
  // to re-join, every lost partition was refused at least once.
  const fencedAt = new Map<number, number>();
  await waitFor(
    'A to log that it was fenced for every partition it lost',
    () => {
      for (const line of a.logs) {
        if (!isFencedWarning(line) || Number(line.time) < resumedAt) continue;
        for (const p of line.partitions as number[]) if (!fencedAt.has(p)) fencedAt.set(p, Number(line.time));
      }
      return lost.every((l) => fencedAt.has(l.partition));
    },
    30_000,
  ).catch((error: Error) => {
    throw new Error(`${error.message}\n${diagnostics(a)}`);
  });
  assert.deepEqual(
    [...fencedAt.keys()].sort((x, y) => x - y),
    lost.map((r) => r.partition),
    'A was fenced for exactly the partitions it lost',
  );

  // Until A re-joined and claimed anew (a higher epoch), its partitions stayed B's, at B's epoch.
  const history = await partitionHistory(db.pool, group, topic);
  for (const l of lost) {
    const bClaim = takeover.get(l.partition)!;
    const sinceTakeover = history.filter((h) => h.partition === l.partition && h.epoch >= bClaim.epoch);
    for (const h of sinceTakeover) {
      if (h.epoch === bClaim.epoch) {
        assert.equal(h.owner, b.owner, `partition ${l.partition} at B's epoch is written by B only`);
      } else {
        assert.ok(
          h.at.getTime() >= fencedAt.get(l.partition)!,
          `partition ${l.partition}: a newer claim (${h.owner}, epoch ${h.epoch}) came only after A was fenced`,
        );
      }
    }
    const aAgain = history.filter(
      (h) => h.partition === l.partition && h.owner === a.owner && h.epoch > frozenAt.get(l.partition)!.epoch,
    );
    for (const h of aAgain) {
      assert.ok(h.epoch > bClaim.epoch, `A writes partition ${l.partition} again only with a new claim`);
    }
  }

  // Traffic runs out; both catch up and stop cleanly; nothing counted twice.
  await feeder.done;
  const ends = await endOffsets(topic);
  await waitCaughtUp(db.pool, group, topic, ends, 60_000, () => diagnostics(a, b));
  assert.deepEqual(await Promise.all([a.stop(), b.stop()]), [0, 0], diagnostics(a, b));
  const records = await readTopic(topic);
  assert.equal(records.length, messages.length);
  await expectTablesEqualOracle(db.pool, topic, records, {
    watermarkDelayMs: DELAY_MS,
    maxFutureSkewMs: SKEW_MS,
  });
  assertNoZombieWrites(await partitionHistory(db.pool, group, topic));
});

test('regression: a zombie frozen inside its commit transaction does not block the takeover', {
  timeout: 120_000,
}, async () => {
  const { db, topic, group, options, owned } = await setUp('zombie-tx');
  // A's commits hold their row locks for 300 ms (a slow disk, a GC pause between statements),
  // so A can be frozen in the middle of one.
  await db.pool.query(`
    CREATE TABLE test_slow_owner (owner text PRIMARY KEY);
    CREATE FUNCTION test_slow_commit() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF EXISTS (SELECT 1 FROM test_slow_owner WHERE owner = OLD.owner) THEN PERFORM pg_sleep(0.3); END IF;
      RETURN NEW;
    END $$;
    CREATE TRIGGER test_slow_commit BEFORE UPDATE ON processor_partitions
      FOR EACH ROW WHEN (OLD.epoch = NEW.epoch) EXECUTE FUNCTION test_slow_commit();`);
  const messages = laneTraffic(9, 3_000, DELAY_MS);
  const feeder = new Feeder(bus.sink(), topic, messages, { chunk: 10, pauseMs: 60 });
  const a = startProcessor('A', options);
  await waitFor(
    'A to claim every partition and commit',
    async () => {
      const rows = await owned(a);
      return rows.length === PARTITIONS && rows.some((r) => r.committed_offset > 0);
    },
    60_000,
  ).catch((error: Error) => {
    throw new Error(`${error.message}\n${diagnostics(a)}`);
  });
  await db.pool.query('INSERT INTO test_slow_owner VALUES ($1)', [a.owner]);
  const inCommit = async () =>
    (
      await db.pool.query(
        `SELECT 1 FROM pg_stat_activity WHERE datname = current_database() AND wait_event = 'PgSleep'
           AND query LIKE '%UPDATE processor_partitions%'`,
      )
    ).rowCount! > 0;
  const frozenInTransaction = async () =>
    (
      await db.pool.query(
        `SELECT 1 FROM pg_stat_activity WHERE datname = current_database() AND state = 'idle in transaction'`,
      )
    ).rowCount! > 0;
  // Stop A while Postgres sleeps inside its commit; if the signal came too late (a slow poll on a
  // busy machine), let A go on and try again.
  let frozenAt = 0;
  for (let attempt = 1; ; attempt++) {
    await waitFor('A to be inside a commit', inCommit, 30_000);
    a.kill('SIGSTOP');
    frozenAt = Date.now();
    const caught = await waitFor(
      "A's transaction to be open and idle (frozen client)",
      frozenInTransaction,
      2_000,
    )
      .then(() => true)
      .catch(() => false);
    if (caught) break;
    assert.ok(attempt < 5, 'could not freeze A inside a commit transaction in 5 attempts');
    a.kill('SIGCONT');
  }

  const b = startProcessor('B', options);
  await waitFor(
    "B to claim A's partitions and commit",
    async () => {
      const rows = await partitionRows(db.pool, group, topic);
      return rows.length === PARTITIONS && rows.every((r) => r.owner === b.owner && r.committed_offset > 0);
    },
    45_000,
  ).catch((error: Error) => {
    throw new Error(`${error.message}\n${diagnostics(b)}`);
  });
  const tookMs = Date.now() - frozenAt;
  await db.pool.query('DELETE FROM test_slow_owner');

  const resumedAt = Date.now();
  a.kill('SIGCONT');
  await waitFor(
    'A to log that it was fenced',
    () => a.logs.some((l) => isFencedWarning(l) && Number(l.time) >= resumedAt),
    30_000,
  ).catch((error: Error) => {
    throw new Error(`${error.message}\n${diagnostics(a)}`);
  });
  assert.ok(a.alive, `A survives being fenced\n${diagnostics(a)}`);

  await feeder.done;
  const ends = await endOffsets(topic);
  await waitCaughtUp(db.pool, group, topic, ends, 60_000, () => diagnostics(a, b));
  assert.deepEqual(await Promise.all([a.stop(), b.stop()]), [0, 0], diagnostics(a, b));
  const records = await readTopic(topic);
  await expectTablesEqualOracle(db.pool, topic, records, {
    watermarkDelayMs: DELAY_MS,
    maxFutureSkewMs: SKEW_MS,
  });
  assertNoZombieWrites(await partitionHistory(db.pool, group, topic));
  assert.ok(tookMs < 30_000, `B took over ${tookMs} ms after A froze`);
});

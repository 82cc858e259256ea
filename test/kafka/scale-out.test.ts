/**
 * Scale-out under kill -9 (SPEC §4 items 7–9): three `rtsa process` children form one consumer
 * group on a 6-partition topic while events (out of order inside the delay, duplicates, late and
 * invalid ones) keep arriving through the Kafka sink. At random moments one processor is killed
 * with SIGKILL and a new one started. When the survivors have caught up, the tables must equal the
 * batch oracle per partition over the records read back from Kafka, every partition must have
 * been owned, the kills must have hit processors in the middle of their work, and no position may
 * ever have moved backwards (no zombie commit). Every other processor runs two processor threads,
 * so the group mixes processes of one and two members, and kill -9 takes both threads at once.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import fc from 'fast-check';
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
  killAllChildren,
  laneTraffic,
  partitionHistory,
  partitionRows,
  processOf,
  type RtsaChild,
  readTopic,
  startProcessor,
  waitCaughtUp,
} from './pipeline-fixture.ts';

const KILLS = Number(process.env.RTSA_KAFKA_KILLS ?? 7);
const PARTITIONS = 6;
const EVENTS = 6_000;
const DELAY_MS = 120_000;
const SKEW_MS = 15 * 60_000;
const SESSION_MS = 6_000; // the broker's group.min.session.timeout.ms

let db: TestDatabase;
let bus: TestKafkaBus;
const topic = uniqueName('scale-out');
const group = uniqueName('scale-out-group');

before(async () => {
  kafkaBrokers(); // fails, never skips, without a broker
  db = await createTestDatabase('scaleout');
  await installPartitionAudit(db.pool);
  bus = testBus();
  await bus.ensureTopic(topic, PARTITIONS);
});

after(async () => {
  await killAllChildren();
  await bus?.close();
  await deleteTopics(bus?.created ?? []);
  await db?.drop();
});

interface Kill {
  victim: string;
  at: number;
  partitions: number[];
  /** End offsets of the victim's partitions when it was killed. */
  ends: Map<number, number>;
  committedTotal: number;
}

test(`three processors, kill -9 one and start another ${KILLS} times: tables equal the oracle`, {
  timeout: 240_000,
}, async (t) => {
  const messages = laneTraffic(42, EVENTS, DELAY_MS);
  const used = new Set(messages.filter((m) => m.key !== '').map((m) => partitionForKey(m.key, PARTITIONS)));
  assert.equal(used.size, PARTITIONS, 'the traffic reaches every partition');

  const processorOptions = {
    brokers: kafkaBrokers(),
    topic,
    group,
    databaseUrl: db.url,
    watermarkDelayMs: DELAY_MS,
    sessionTimeoutMs: SESSION_MS,
    flushIntervalMs: 50,
    maxBatch: 300,
  };
  let started = 0;
  const processors: RtsaChild[] = [];
  const spawnOne = () => {
    // Every other processor runs 2 processor threads (each a member of the group of its own).
    const child = startProcessor(`processor-${++started}`, {
      ...processorOptions,
      threads: 1 + (started % 2),
    });
    processors.push(child);
    return child;
  };
  const diagnostics = () =>
    processors
      .filter((p) => p.alive)
      .map((p) => p.tail(15))
      .join('\n');

  // Events keep arriving through the whole kill phase (~8 s per kill: the session timeout, the
  // rebalance, the claims and the replay, then a random moment of normal work).
  const chunk = 10;
  const pauseMs = Math.max(5, Math.floor((KILLS * 8_000) / (EVENTS / chunk)));
  const feeder = new Feeder(bus.sink(), topic, messages, { chunk, pauseMs });
  for (let i = 0; i < 3; i++) spawnOne();
  const recovered = async (committedAtLastKill: number) => {
    const rows = await partitionRows(db.pool, group, topic);
    const live = new Set(processors.filter((p) => p.alive).map((p) => p.owner));
    return (
      rows.length === PARTITIONS &&
      rows.every((r) => r.owner !== null && live.has(processOf(r.owner)!)) &&
      rows.reduce((s, r) => s + r.committed_offset, 0) > committedAtLastKill
    );
  };
  await waitFor('the three processors to claim all partitions and commit', () => recovered(0), 60_000).catch(
    (error: Error) => {
      throw new Error(`${error.message}\n${diagnostics()}`);
    },
  );

  // Two kills in three wait until the group has recovered from the previous one and committed
  // more; the third strikes at once, during the rebalance or the replay.
  const pauses = fc.sample(fc.integer({ min: 200, max: 2_500 }), { numRuns: KILLS, seed: 7 });
  const picks = fc.sample(fc.nat(), { numRuns: KILLS, seed: 11 });
  const kills: Kill[] = [];
  for (let k = 0; k < KILLS; k++) {
    const previous = kills[k - 1];
    if (previous && k % 3 !== 2) {
      await waitFor(`recovery from kill ${k}`, () => recovered(previous.committedTotal), 60_000).catch(
        (error: Error) => {
          throw new Error(`${error.message}\n${diagnostics()}`);
        },
      );
    }
    await sleep(pauses[k]!); // the kill moment, random: not a synchronisation
    const rows = await partitionRows(db.pool, group, topic);
    const ends = await endOffsets(topic);
    const live = processors.filter((p) => p.alive);
    const owning = live.filter((p) => rows.some((r) => processOf(r.owner) === p.owner));
    const candidates = owning.length > 0 ? owning : live;
    const victim = candidates[picks[k]! % candidates.length]!;
    const mine = rows.filter((r) => processOf(r.owner) === victim.owner);
    victim.kill('SIGKILL');
    await victim.exited;
    kills.push({
      victim: victim.owner,
      at: Date.now(),
      partitions: mine.map((r) => r.partition),
      ends: new Map(mine.map((r) => [r.partition, ends.get(r.partition) ?? 0])),
      committedTotal: rows.reduce((s, r) => s + r.committed_offset, 0),
    });
    spawnOne();
  }
  await feeder.done;
  assert.equal(feeder.sent, EVENTS);

  const ends = await endOffsets(topic);
  assert.equal(
    [...ends.values()].reduce((a, b) => a + b, 0),
    EVENTS,
    'every event sent is in the topic once',
  );
  await waitCaughtUp(db.pool, group, topic, ends, 120_000, diagnostics);
  const survivors = processors.filter((p) => p.alive);
  assert.equal(survivors.length, 3);
  const codes = await Promise.all(survivors.map((p) => p.stop()));
  assert.deepEqual(codes, [0, 0, 0], `survivors stop cleanly\n${diagnostics()}`);

  const records = await readTopic(topic);
  assert.equal(records.length, EVENTS);
  const expected = await expectTablesEqualOracle(db.pool, topic, records, {
    watermarkDelayMs: DELAY_MS,
    maxFutureSkewMs: SKEW_MS,
  });
  assert.ok(expected.windows.length > 200, `the traffic makes many windows (${expected.windows.length})`);
  assert.ok(
    expected.deadLetters.some((d) => d.reason === 'late') &&
      expected.deadLetters.some((d) => d.reason !== 'late'),
    'the traffic has late and invalid events',
  );

  const history = await partitionHistory(db.pool, group, topic);
  assertNoZombieWrites(history);
  assert.deepEqual(
    [...new Set(history.map((h) => h.partition))].sort((a, b) => a - b),
    Array.from({ length: PARTITIONS }, (_, i) => i),
    'every partition was owned',
  );
  // A kill interrupted progress when its victim had been committing on its partitions and more
  // records came to them after the kill; each of them was then claimed by another processor (a
  // higher epoch, from the victim's position) that carried on.
  let interrupted = 0;
  for (const kill of kills) {
    const victimRows = history.filter((h) => processOf(h.owner) === kill.victim);
    const committedSomething = kill.partitions.some((p) => {
      const offsets = victimRows.filter((h) => h.partition === p).map((h) => h.committed_offset);
      return offsets.length > 1 && Math.max(...offsets) > Math.min(...offsets);
    });
    const moreCame = [...kill.ends].some(([p, end]) => (ends.get(p) ?? 0) > end);
    if (!committedSomething || !moreCame) continue;
    const takenOver = kill.partitions.every((p) =>
      history.some(
        (h) => h.partition === p && h.at.getTime() >= kill.at && processOf(h.owner) !== kill.victim,
      ),
    );
    assert.ok(takenOver, `the partitions ${kill.partitions} of killed ${kill.victim} were taken over`);
    interrupted++;
  }
  assert.ok(
    interrupted >= Math.ceil(KILLS / 2),
    `only ${interrupted} of ${KILLS} kills interrupted a processor in the middle of its work: ${JSON.stringify(kills)}`,
  );
  const owners = new Set(history.map((h) => processOf(h.owner)));
  assert.ok(
    history.some((h) => /\/t1$/.test(h.owner ?? '')),
    'a processor with two threads owned partitions',
  );
  t.diagnostic(
    `${kills.length} kills, ${interrupted} interrupted work, ${owners.size} owners, ${new Set(history.map((h) => `${h.partition}:${h.epoch}`)).size} claims, ${history.length} row versions, windows ${expected.windows.length}, dead letters ${expected.deadLetters.length}`,
  );
  assert.ok(
    owners.size >= 3 + Math.ceil(KILLS / 2),
    `partitions moved between many processors (${owners.size})`,
  );
});

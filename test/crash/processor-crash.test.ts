/**
 * Crash test: a real `rtsa process` child reads the embedded log and commits to a real Postgres
 * while events keep arriving; it is killed with SIGKILL at random moments (at least 20 times)
 * (while it works: events arrive throughout) and started again. When everything is processed, the
 * tables must equal the batch oracle over the very records in the log — nothing lost, nothing
 * doubled. Twice: the processor on its main thread (2 partitions), and as 2 processor threads over
 * 4 partitions (--processor-threads, each thread committing its own partitions).
 */
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import fc from 'fast-check';
import { EmbeddedBus } from '../../src/bus/embedded/index.ts';
import { recordsArbitrary } from '../helpers/event-gen.ts';
import { assertTablesMatchOracle, readAllRecords, waitCommittedToEnd } from '../helpers/pipeline-oracle.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/postgres.ts';
import { spawnRtsa } from '../helpers/rtsa-child.ts';

const CRASHES = Number(process.env.RTSA_CRASH_POINTS ?? 24);
const TOPIC = 'stream.events';
const DELAY_MS = 120_000;
const SKEW_MS = 15 * 60_000;

interface Setup {
  db: TestDatabase;
  dir: string;
  bus: EmbeddedBus;
  threads: number;
}

const setups: Setup[] = [];

async function setUp(name: string, partitions: number, threads: number): Promise<Setup> {
  const db = await createTestDatabase(name);
  const dir = await mkdtemp(path.join(tmpdir(), 'rtsa-crash-'));
  const bus = new EmbeddedBus({
    dir: path.join(dir, 'log'),
    fsync: 'never',
    retentionMs: 7 * 86_400_000,
    segmentBytes: 256 * 1024,
  });
  await bus.ensureTopic(TOPIC, partitions);
  const setup = { db, dir, bus, threads };
  setups.push(setup);
  return setup;
}

after(async () => {
  for (const { bus, db, dir } of setups) {
    await bus.close();
    await db.drop();
    await rm(dir, { recursive: true, force: true });
  }
});

function startProcessor({ dir, db, threads }: Setup): ChildProcess {
  return spawnRtsa(
    [
      'process',
      '--processor-threads',
      String(threads),
      '--data-dir',
      dir,
      '--database-url',
      db.url,
      '--watermark-delay',
      `${DELAY_MS}ms`,
      '--idle-timeout',
      '1h',
      '--flush-interval',
      '20ms',
      '--max-batch',
      '300',
      '--log-format',
      'json',
      '--log-level',
      'warn',
    ],
    { output: 'inherit' },
  ).proc;
}

function exited(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve();
    else child.once('exit', () => resolve());
  });
}

/** Sum of the partitions' epochs: it grows when a processor has claimed them (it is running). */
async function claims({ db }: Setup): Promise<number> {
  const { rows } = await db.pool.query<{ n: number | null }>(
    'SELECT sum(epoch)::int AS n FROM processor_partitions WHERE topic = $1',
    [TOPIC],
  );
  return rows[0]?.n ?? 0;
}

async function committedOffsets({ db }: Setup): Promise<Map<number, number>> {
  const { rows } = await db.pool.query<{ partition: number; committed_offset: number }>(
    'SELECT partition, committed_offset FROM processor_partitions WHERE topic = $1',
    [TOPIC],
  );
  return new Map(rows.map((r) => [r.partition, r.committed_offset]));
}

test(`kill -9 at ${CRASHES} random points, restart, tables equal the oracle`, {
  timeout: 600_000,
}, async () => {
  await crashAndCompare(await setUp('crash', 2, 1));
});

test(`2 processor threads over 4 partitions: kill -9 at ${CRASHES} random points, tables equal the oracle`, {
  timeout: 600_000,
}, async () => {
  await crashAndCompare(await setUp('crash_threads', 4, 2));
});

async function crashAndCompare(setup: Setup): Promise<void> {
  const { bus, db } = setup;
  // 6,000 events across the partitions: out-of-order inside the delay, duplicates, late, invalid.
  const [records] = fc.sample(
    recordsArbitrary({ minEvents: 6000, maxEvents: 6000, watermarkDelayMs: DELAY_MS }),
    {
      numRuns: 1,
      seed: 42,
    },
  );
  const values = records!.map((r) => String(r.value));
  const sink = bus.sink();
  const keyOf = (v: string) => {
    try {
      return String((JSON.parse(v) as { stream_id?: unknown }).stream_id ?? '');
    } catch {
      return '';
    }
  };
  // Events keep flowing while processors are killed: each run gets its share, sent while it runs
  // (paced by the runs, not by the clock: on a busy machine a run takes longer to start).
  const perRun = Math.ceil(values.length / CRASHES);
  let sent = 0;
  const send = async (upTo: number) => {
    while (sent < upTo) {
      const chunk = values.slice(sent, Math.min(upTo, sent + 10));
      await sink.send(
        TOPIC,
        chunk.map((value) => ({ key: keyOf(value), value })),
      );
      sent += chunk.length;
      await new Promise((r) => setTimeout(r, 5));
    }
  };
  const pauses = fc.sample(fc.integer({ min: 150, max: 1500 }), { numRuns: CRASHES, seed: 7 });
  let interrupted = 0;
  let previous = 0;
  for (let crash = 0; crash < CRASHES; crash++) {
    const claimedBefore = await claims(setup);
    const child = startProcessor(setup);
    const sending = send(Math.min(values.length, (crash + 1) * perRun));
    // The random moment is counted from when it runs (has claimed its partitions), not from the
    // spawn: on a busy machine starting Node alone can take longer than the longest pause.
    const deadline = Date.now() + 60_000;
    while ((await claims(setup)) <= claimedBefore && child.exitCode === null) {
      assert.ok(Date.now() < deadline, 'the processor did not claim its partitions within 60 s');
      await new Promise((r) => setTimeout(r, 20));
    }
    await new Promise((r) => setTimeout(r, pauses[crash]));
    child.kill('SIGKILL');
    await exited(child);
    await sending;
    const done = [...(await committedOffsets(setup)).values()].reduce((a, b) => a + b, 0);
    if (done > previous) interrupted++;
    previous = done;
  }
  await send(values.length);
  assert.ok(
    interrupted >= CRASHES / 2,
    `only ${interrupted} of ${CRASHES} processors made progress before being killed`,
  );
  // The last run processes to the end and stops cleanly.
  const last = startProcessor(setup);
  await waitCommittedToEnd(db.pool, bus, TOPIC, 120_000);
  last.kill('SIGTERM');
  await exited(last);

  const windows = await assertTablesMatchOracle(db.pool, await readAllRecords(bus, TOPIC), {
    watermarkDelayMs: DELAY_MS,
    maxFutureSkewMs: SKEW_MS,
  });
  assert.ok(windows.length > 50, 'the test data makes many windows');
  if (setup.threads > 1) {
    // Each thread claimed its own partitions, under its own owner name.
    const { rows } = await db.pool.query<{ owner: string }>(
      'SELECT DISTINCT owner FROM processor_partitions WHERE topic = $1',
      [TOPIC],
    );
    assert.equal(rows.length, setup.threads, `owners: ${rows.map((r) => r.owner).join(', ')}`);
  }
}

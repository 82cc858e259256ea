/**
 * `rtsa lake` killed with -9 at 20 random moments while commerce events flow (valid, duplicated
 * and broken ones), locally and on a real S3 server; then a last run to the end. An independent
 * reader (DuckDB's own Parquet reader) reads bronze and compares it with the topic: every record
 * exactly once, with its raw bytes, and in the folder its own timestamp and type name; silver holds
 * each valid event once and the dead letters each invalid one; no file a commit does not list is
 * visible, and nothing is left staged. Also with 4 lake threads (each layer's 2 partitions split
 * between 2 threads): kill -9 takes all four at once.
 */
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import fc from 'fast-check';
import { EmbeddedBus } from '../../src/bus/embedded/index.ts';
import { createCommerceHistory } from '../../src/generator/commerce/index.ts';
import { type LakeStore, openLakeStore } from '../../src/lakehouse/lake-store/index.ts';
import { readAllRecords } from '../helpers/pipeline-oracle.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/postgres.ts';
import { exitOf, spawnRtsa, until } from '../helpers/rtsa-child.ts';
import { s3Unavailable, type S3Server, startS3Server } from '../lakehouse/s3-server.ts';
import { acceptedKeys, assertLakeMatches, lakeCommitted, silverEventRows } from '../helpers/lake-oracle.ts';

const TOPIC = 'events_raw';
const RUNS = 20;
const PARTITIONS = 2;

interface Target {
  /** Extra flags for `rtsa lake`. */
  flags: string[];
  store: LakeStore;
  /** Removes what the target made (its lake folder). */
  remove?: () => Promise<void>;
}

function crashSuite(name: string, target: () => Promise<Target>, skip?: string) {
  describe(name, { skip, timeout: 900_000 }, () => {
    let db: TestDatabase;
    let dir: string;
    let bus: EmbeddedBus;
    let t: Target;

    before(async () => {
      db = await createTestDatabase('lake_crash');
      dir = await mkdtemp(path.join(tmpdir(), 'rtsa-lake-crash-'));
      bus = new EmbeddedBus({
        dir: path.join(dir, 'log'),
        fsync: 'never',
        retentionMs: 7 * 86_400_000,
        segmentBytes: 256 * 1024,
      });
      await bus.ensureTopic(TOPIC, PARTITIONS);
      t = await target();
    });

    after(async () => {
      await t?.store.close();
      await t?.remove?.();
      await bus?.close();
      await db?.drop();
      await rm(dir, { recursive: true, force: true });
    });

    const claims = async () =>
      Number(
        (await db.pool.query<{ n: number | null }>('SELECT sum(epoch)::int AS n FROM lake.writer_partitions'))
          .rows[0]?.n ?? 0,
      );
    const committed = (writer = 'bronze') => lakeCommitted(db.pool, writer);
    const silverRows = () => silverEventRows(db.pool);

    /**
     * `idle` is how long a quiet partition waits before its watermark jumps to the wall clock:
     * long while events flow (a pause between two sends must not make the rest late), one second
     * for the last run, once everything is in the log, so the last sessions close.
     */
    function startLake(idle = '1h'): ChildProcess {
      return spawnRtsa(
        [
          'lake',
          '--data-dir',
          dir,
          '--database-url',
          db.url,
          '--lake-flush-interval',
          '30ms',
          '--lake-max-batch',
          '150',
          '--lake-idle-timeout',
          idle,
          '--log-format',
          'json',
          '--log-level',
          'warn',
          ...t.flags,
        ],
        { output: 'inherit' },
      ).proc;
    }

    test(`kill -9 at ${RUNS} random moments; bronze holds every record once`, async () => {
      // Duplicates (the same bytes twice, as a retrying producer sends them) and 5 % broken events.
      const messages = createCommerceHistory({
        seed: 5,
        users: 200,
        from: '2025-11-30',
        to: '2025-12-01',
        eventsPerDay: 1_200,
        badDataPercentage: 5,
      }).take(2_400);
      const values = messages.flatMap((m, i) => (i % 37 === 0 ? [m, m] : [m]));
      const sink = bus.sink();
      const perRun = Math.ceil(values.length / RUNS);
      let sent = 0;
      const send = async (upTo: number) => {
        while (sent < upTo) {
          const chunk = values.slice(sent, Math.min(upTo, sent + 20));
          await sink.send(
            TOPIC,
            chunk.map((m) => ({ key: m.key, value: m.value })),
          );
          sent += chunk.length;
          await new Promise((r) => setTimeout(r, 5));
        }
      };
      const pauses = fc.sample(fc.integer({ min: 100, max: 1200 }), { numRuns: RUNS, seed: 3 });
      let progressed = 0;
      let previous = 0;
      for (let run = 0; run < RUNS; run++) {
        const claimedBefore = await claims();
        const child = startLake();
        const sending = send(Math.min(values.length, (run + 1) * perRun));
        await until(
          'the lake writer to claim its partitions',
          async () => ((await claims()) > claimedBefore || child.exitCode !== null ? true : undefined),
          60_000,
        );
        // Odd runs die at a random moment after the claim (recovery, staging, the commit or the
        // moves). Even runs die a random moment after their first commit, so that half the kills
        // land in the middle of steady work however slow the store is (S3 commits take longer).
        if (run % 2 === 0) {
          await until(
            'this run to commit',
            async () => ((await committed()) > previous || child.exitCode !== null ? true : undefined),
            60_000,
          );
        }
        await new Promise((r) => setTimeout(r, pauses[run]));
        child.kill('SIGKILL');
        await exitOf(child);
        await sending;
        const done = await committed();
        if (done > previous) progressed++;
        previous = done;
      }
      await send(values.length);
      assert.ok(progressed >= RUNS / 2, `only ${progressed} of ${RUNS} runs committed before being killed`);

      const last = startLake('1s');
      const silverState = { committed: 0, rows: 0 };
      const watch = setInterval(() => {
        void (async () => {
          silverState.committed = await committed('silver');
          silverState.rows = await silverRows();
        })().catch(() => {});
      }, 500);
      const records = await readAllRecords(bus, TOPIC);
      const accepted = acceptedKeys(records);
      await until(
        'the last run to commit everything',
        async () => ((await committed()) === records.length ? true : undefined),
        120_000,
      );
      // Silver writes events when their session closes: after a second of idleness here.
      await until(
        'silver to write every session',
        async () =>
          (await committed('silver')) === records.length && (await silverRows()) === accepted.size
            ? true
            : undefined,
        120_000,
        () =>
          `silver: committed ${silverState.committed} of ${records.length}, ${silverState.rows} of ${accepted.size} events written`,
      );
      clearInterval(watch);
      last.kill('SIGTERM');
      assert.equal(await exitOf(last), 0, 'a clean stop');

      await assertLakeMatches(db.pool, t.store, records, dir);
    });
  });
}

crashSuite('rtsa lake on a local folder', async () => {
  const root = await mkdtemp(path.join(tmpdir(), 'rtsa-lake-root-'));
  return {
    flags: ['--lake-url', root],
    store: openLakeStore({ url: root, dataDir: root }),
    remove: () => rm(root, { recursive: true, force: true }),
  };
});

crashSuite('rtsa lake on a local folder, 4 lake threads', async () => {
  const root = await mkdtemp(path.join(tmpdir(), 'rtsa-lake-root-'));
  return {
    flags: ['--lake-url', root, '--lake-threads', '4'],
    store: openLakeStore({ url: root, dataDir: root }),
    remove: () => rm(root, { recursive: true, force: true }),
  };
});

let s3: S3Server | undefined;
describe('rtsa lake on S3', { skip: s3Unavailable() }, () => {
  before(async () => {
    s3 = await startS3Server();
  });
  after(async () => {
    await s3?.stop();
  });
  crashSuite('s3proxy', async () => {
    const server = s3 as S3Server;
    const s3Settings = {
      endpoint: server.endpoint,
      accessKeyId: server.accessKeyId,
      secretAccessKey: server.secretAccessKey,
    };
    const url = `s3://${server.bucket}/crash`;
    return {
      flags: [
        '--lake-url',
        url,
        '--s3-endpoint',
        server.endpoint,
        '--s3-access-key-id',
        server.accessKeyId,
        '--s3-secret-access-key',
        server.secretAccessKey,
      ],
      store: openLakeStore({ url, dataDir: '.', s3: s3Settings }),
    };
  });
});

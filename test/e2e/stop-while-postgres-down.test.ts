/**
 * Ctrl-C while Postgres is gone. `rtsa process` and `rtsa lake` retry a failing commit until it is
 * durable; asked to stop meanwhile, they used to go on retrying, and only a second Ctrl-C (or
 * kill -9) ended them. Now they give the commit up and exit at once, and the next start reads those
 * events again: the tables and the lake equal the oracle over everything sent, each event once.
 *
 * Postgres "goes away" through a TCP proxy in front of the test's server, closed (connections cut,
 * port refused) and opened again on the same port: the children see what a stopped server looks
 * like, and the test's own connections stay up.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import fc from 'fast-check';
import { EmbeddedBus } from '../../src/bus/embedded/index.ts';
import { createCommerceHistory } from '../../src/generator/commerce/index.ts';
import { openLakeStore } from '../../src/lakehouse/lake-store/index.ts';
import { recordsArbitrary } from '../helpers/event-gen.ts';
import { acceptedKeys, assertLakeMatches, lakeCommitted, silverEventRows } from '../helpers/lake-oracle.ts';
import { assertTablesMatchOracle, readAllRecords, waitCommittedToEnd } from '../helpers/pipeline-oracle.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/postgres.ts';
import { cleanEnv, exitOf, freePort, type RtsaChild, spawnRtsa, until } from '../helpers/rtsa-child.ts';

const cleanups: (() => Promise<unknown>)[] = [];
after(async () => {
  for (const clean of cleanups.reverse()) await clean().catch(() => {});
});

/** A TCP proxy to the test database's server that can be closed and opened again on its port. */
async function postgresProxy(
  db: TestDatabase,
): Promise<{ url: string; down(): Promise<void>; up(): Promise<void> }> {
  const target = new URL(db.url);
  const port = await freePort();
  const sockets = new Set<Socket>();
  let server: Server | undefined;
  const up = () =>
    new Promise<void>((resolve, reject) => {
      server = createServer((client) => {
        const upstream = createConnection(Number(target.port), target.hostname);
        for (const s of [client, upstream]) {
          sockets.add(s);
          s.on('close', () => sockets.delete(s));
          s.on('error', () => {});
        }
        client.pipe(upstream).pipe(client);
        client.on('close', () => upstream.destroy());
        upstream.on('close', () => client.destroy());
      });
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => resolve());
    });
  const down = async () => {
    const closed = new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
    for (const s of sockets) s.destroy();
    await closed;
    server = undefined;
  };
  await up();
  cleanups.push(down);
  const url = new URL(db.url);
  url.port = String(port);
  return { url: url.toString(), down, up };
}

/** SIGINT, and how it ended: exit code, or 'hung' if it had not exited 20 s later (then killed). */
async function ctrlC(child: RtsaChild): Promise<number | null | 'hung'> {
  const exit = exitOf(child.proc);
  child.proc.kill('SIGINT');
  const ended = await Promise.race([exit, new Promise((r) => setTimeout(() => r('hung'), 20_000))]);
  if (ended === 'hung') await child.kill9();
  return ended as number | null | 'hung';
}

async function setUp(name: string) {
  const db = await createTestDatabase(name);
  cleanups.push(() => db.drop());
  const dir = await mkdtemp(path.join(tmpdir(), `rtsa-${name}-`));
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  const bus = new EmbeddedBus({
    dir: path.join(dir, 'log'),
    fsync: 'never',
    retentionMs: 7 * 86_400_000,
    segmentBytes: 1 << 20,
  });
  cleanups.push(() => bus.close());
  return { db, dir, bus, proxy: await postgresProxy(db) };
}

test('rtsa process: Ctrl-C while Postgres is gone stops it; the next start counts those events once', {
  timeout: 180_000,
}, async () => {
  const { db, dir, bus, proxy } = await setUp('stop_pg_process');
  const topic = 'stream.events';
  await bus.ensureTopic(topic, 2);
  const [records] = fc.sample(
    recordsArbitrary({ minEvents: 1500, maxEvents: 1500, watermarkDelayMs: 120_000 }),
    { numRuns: 1, seed: 11 },
  );
  const values = records!.map((r) => String(r.value));
  const keyOf = (v: string) => {
    try {
      return String((JSON.parse(v) as { stream_id?: unknown }).stream_id ?? '');
    } catch {
      return '';
    }
  };
  const send = (part: string[]) =>
    bus.sink().send(
      topic,
      part.map((value) => ({ key: keyOf(value), value })),
    );
  const start = () =>
    spawnRtsa(
      [
        'process',
        '--data-dir',
        dir,
        '--watermark-delay',
        '120s',
        '--idle-timeout',
        '1h',
        '--log-format',
        'json',
      ],
      { env: cleanEnv({ DATABASE_URL: proxy.url }) },
    );
  await send(values.slice(0, 1000));
  const first = start();
  await waitCommittedToEnd(db.pool, bus, topic, 60_000);
  await proxy.down();
  await send(values.slice(1000));
  await until(
    'a commit failing',
    async () => (/commit failed; Postgres unreachable/.test(first.output()) ? true : undefined),
    30_000,
    first.tail,
  );
  assert.equal(await ctrlC(first), 0, `one Ctrl-C stops it\n${first.tail()}`);
  assert.match(first.output(), /stopped without committing the last events/);

  await proxy.up();
  const second = start();
  await waitCommittedToEnd(db.pool, bus, topic, 60_000);
  assert.equal(await ctrlC(second), 0, second.tail());
  await assertTablesMatchOracle(db.pool, await readAllRecords(bus, topic), {
    watermarkDelayMs: 120_000,
    maxFutureSkewMs: 5 * 60_000,
  });
});

test('rtsa lake: Ctrl-C while Postgres is gone stops it; the next start writes those records once', {
  timeout: 180_000,
}, async () => {
  const { db, dir, bus, proxy } = await setUp('stop_pg_lake');
  const topic = 'events_raw';
  await bus.ensureTopic(topic, 2);
  const messages = createCommerceHistory({
    seed: 9,
    users: 100,
    from: '2025-11-30',
    to: '2025-11-30',
    eventsPerDay: 1_500,
    badDataPercentage: 5,
  }).take(1_500);
  const send = (part: typeof messages) =>
    bus.sink().send(
      topic,
      part.map((m) => ({ key: m.key, value: m.value })),
    );
  const lake = path.join(dir, 'lake');
  const start = (idle: string) =>
    spawnRtsa(
      [
        'lake',
        '--data-dir',
        dir,
        '--lake-url',
        lake,
        '--lake-flush-interval',
        '200ms',
        '--lake-idle-timeout',
        idle,
        '--log-format',
        'json',
      ],
      { env: cleanEnv({ DATABASE_URL: proxy.url }) },
    );
  await send(messages.slice(0, 1000));
  const first = start('1h');
  await until('bronze to commit the first records', async () =>
    (await lakeCommitted(db.pool, 'bronze')) === 1000 ? true : undefined,
  );
  // And to move them into place: Postgres gone during that step, the writer retries the move
  // (not a commit) first, which is not what this test is about.
  await until('the committed files moved into place', async () => {
    const { rows } = await db.pool.query<{ n: number }>(
      'SELECT count(*)::int AS n FROM lake.files WHERE NOT published',
    );
    return rows[0]!.n === 0 ? true : undefined;
  });
  await proxy.down();
  await send(messages.slice(1000));
  await until(
    'a commit failing',
    async () => (/commit failing; retrying with back-off/.test(first.output()) ? true : undefined),
    30_000,
    first.tail,
  );
  assert.equal(await ctrlC(first), 0, `one Ctrl-C stops it\n${first.tail()}`);
  assert.match(first.output(), /stopped without committing the last records/);

  await proxy.up();
  const second = start('1s');
  const records = await readAllRecords(bus, topic);
  const accepted = acceptedKeys(records);
  await until(
    'both layers to write everything',
    async () =>
      (await lakeCommitted(db.pool, 'bronze')) === records.length &&
      (await lakeCommitted(db.pool, 'silver')) === records.length &&
      (await silverEventRows(db.pool)) === accepted.size
        ? true
        : undefined,
    60_000,
    second.tail,
  );
  assert.equal(await ctrlC(second), 0, second.tail());
  await assertLakeMatches(db.pool, openLakeStore({ url: lake, dataDir: dir }), records, dir);
});

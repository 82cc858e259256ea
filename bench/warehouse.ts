/**
 * The daily warehouse load (npm run bench -- warehouse --events 1000000): N commerce events of one
 * day (the seed's generator, 10,000 users, 1 % bad data) through the real silver layer into a local
 * lake, then `loadWarehouseDate` (the `rtsa warehouse load` code path) for that day into an empty
 * warehouse, and the same day again (nothing changes). facts/s = new facts / load time.
 * With --days D: D days of N events each, loaded in date order; the result is the last day's load,
 * into a warehouse holding the D - 1 days before it (what a daily run does once the warehouse has
 * history), with every day's time beside it. With --empty-days E: E empty daily partitions of
 * fact_events and fact_sessions before those days (the planning and locking cost of a warehouse
 * that keeps E days, docs/decisions.md "The limit"). Then the marts are built and tested (timed).
 */
import { loadavg } from 'node:os';
import path from 'node:path';
import type pg from 'pg';
import { EmbeddedBus } from '../src/bus/embedded/index.ts';
import { createPool, migrate } from '../src/db/index.ts';
import { LocalLakeStore } from '../src/lakehouse/lake-store/index.ts';
import { LakeCommitLog, LakeWriter } from '../src/lakehouse/lake-writer/index.ts';
import { silverLayer } from '../src/lakehouse/silver/index.ts';
import { addDays, dateRange } from '../src/lakehouse/dates.ts';
import { buildMarts, testMarts } from '../src/lakehouse/marts/index.ts';
import { loadWarehouseDate } from '../src/lakehouse/warehouse/index.ts';
import { createLogger, silentLogger } from '../src/telemetry/logger.ts';
import { endProgress, progress, scratch } from './harness.ts';
import { prefillCommerce, TOPIC } from './lake.ts';
import type { BenchOptions } from './options.ts';

const DAY = '2026-11-03';

/**
 * N commerce events of one day (seed generator, 10,000 users, 1 % bad data) pre-filled into an
 * embedded log and written by the real silver layer into the local lake `store`, until every record
 * is committed and the idle partition has closed the last sessions (silver's watermark then
 * covers the day, as wait_for_silver requires). Returns the events sent.
 */
export async function silverDay(
  dir: string,
  pool: pg.Pool,
  store: LocalLakeStore,
  events: number,
  day: string,
  firstDay = day,
): Promise<number> {
  const bus = new EmbeddedBus({
    dir: path.join(dir, 'log'),
    fsync: 'never',
    retentionMs: 3650 * 86_400_000,
    segmentBytes: 64 << 20,
  });
  try {
    await bus.ensureTopic(TOPIC, 1);
    const sent = await prefillCommerce(bus, events, firstDay, day);
    const writer = new LakeWriter({
      layer: silverLayer({
        topic: TOPIC,
        allowedLatenessMs: 10 * 60_000,
        sessionGapMs: 30 * 60_000,
        idleTimeoutMs: 1_000,
      }),
      store,
      log: new LakeCommitLog(pool, 'silver', TOPIC),
      owner: 'bench',
      flushIntervalMs: 10_000,
      maxBatchRecords: 200_000,
      logger: silentLogger(),
    });
    const source = bus.source({ topic: TOPIC, group: 'bench-silver', maxBatch: 10_000, idleIntervalMs: 200 });
    await source.start(writer);
    let stableSince = 0;
    let lastRows = -1;
    for (;;) {
      const { rows } = await pool.query<{ o: number; r: number }>(
        `SELECT (SELECT coalesce(sum(committed_offset), 0) FROM lake.writer_partitions WHERE writer = 'silver')::bigint AS o,
                (SELECT coalesce(sum(rows), 0) FROM lake.files WHERE writer = 'silver')::bigint AS r`,
      );
      const done = Number(rows[0]?.o ?? 0);
      const fileRows = Number(rows[0]?.r ?? 0);
      progress(`silver: ${done.toLocaleString('en')} of ${sent.toLocaleString('en')} committed`);
      if (fileRows !== lastRows) {
        lastRows = fileRows;
        stableSince = Date.now();
      }
      if (done >= sent && Date.now() - stableSince > 3_000) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    endProgress();
    await source.stop();
    await writer.close();
    return sent;
  } finally {
    await bus.close();
  }
}

export async function runWarehouse(opts: BenchOptions): Promise<Record<string, unknown>> {
  const events = Math.min(opts.events, 2_000_000);
  const env = await scratch();
  const pool = createPool(env.pgUrl, 4);
  const store = new LocalLakeStore(path.join(env.dir, 'lake'));
  try {
    await migrate(pool);
    const days = Math.max(1, Math.floor(opts.days));
    const dates = dateRange(addDays(DAY, -(days - 1)), DAY);
    const emptyDays = Math.max(0, Math.floor(opts.emptyDays));
    if (emptyDays > 0) await emptyPartitions(pool, addDays(DAY, -(days - 1 + emptyDays)), emptyDays);
    const sent = await silverDay(env.dir, pool, store, events * days, DAY, dates[0]);
    const earlier: number[] = [];
    for (const date of dates.slice(0, -1)) {
      const r = await loadWarehouseDate({ pool, store, logger: benchLogger() }, date);
      earlier.push(Number((r.ms / 1000).toFixed(1)));
    }
    const load = await loadWarehouseDate({ pool, store, logger: benchLogger() }, DAY);
    const again = await loadWarehouseDate({ pool, store, logger: benchLogger() }, DAY);
    const built = await buildMarts({ pool });
    const tested = await testMarts({ pool });
    if (!tested.passed) {
      throw new Error(
        `data tests failed: ${tested.tests.filter((t) => t.status !== 'pass').map((t) => t.name)}`,
      );
    }
    const row = {
      date: DAY,
      days_before: earlier.length,
      empty_days: emptyDays,
      ...(earlier.length > 0 ? { earlier_days_seconds: earlier } : {}),
      silver_events: load.silverEvents,
      silver_sessions: load.silverSessions,
      facts: load.newEvents,
      users: load.users,
      versions: load.versions,
      seconds: Number((load.ms / 1000).toFixed(1)),
      facts_per_second: Math.round((load.newEvents / load.ms) * 1000),
      reload_seconds: Number((again.ms / 1000).toFixed(1)),
      reload_new_facts: again.newEvents,
      marts_build_seconds: Number((built.ms / 1000).toFixed(1)),
      marts_test_seconds: Number((tested.ms / 1000).toFixed(1)),
      load_average: loadavg().map((l) => Number(l.toFixed(1))),
    };
    console.log(JSON.stringify(row));
    return {
      ...row,
      setup: `${sent.toLocaleString('en')} commerce events of ${days} day(s) (seed generator, 10,000 users, 1 % bad) through the silver layer into a local lake; loadWarehouseDate of each day in date order into a warehouse of the embedded Postgres with ${emptyDays} empty daily partitions (the last day is the result), then the last date again; then buildMarts and testMarts`,
    };
  } finally {
    await pool.end();
    await env.close();
  }
}

/** `count` empty daily partitions of both fact tables, from `first` on (indexes included). */
async function emptyPartitions(pool: pg.Pool, first: string, count: number): Promise<void> {
  for (const [i, day] of dateRange(first, addDays(first, count - 1)).entries()) {
    const to = addDays(day, 1);
    for (const table of ['fact_events', 'fact_sessions']) {
      await pool.query(
        `CREATE TABLE warehouse.${table}_${day.replaceAll('-', '')} PARTITION OF warehouse.${table}
         FOR VALUES FROM ('${day} 00:00:00') TO ('${to} 00:00:00')`,
      );
    }
    progress(`empty partitions: ${i + 1} of ${count} days`);
  }
  endProgress();
}

/** The load's own progress lines (each step and its time), on stderr so RESULT lines stay clean. */
export function benchLogger() {
  return process.env.RTSA_BENCH_QUIET
    ? silentLogger()
    : createLogger({ level: 'info', format: 'pretty', stream: 'stderr' });
}

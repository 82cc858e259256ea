/**
 * Every read query of system A stays a few index probes at 1.44M windows (1,000 streams x 24 h,
 * issue 14): the statements behind each API endpoint (default parameters, wide ranges, the deepest
 * page) and a dashboard poll never read stream_metrics_minute with a sequential scan, never sort a
 * whole range, and each request stays within a budget of pages (8 kB) touched, far below the table.
 * Plans and pages, not timings: timings belong to the benchmarks (docs/benchmarks.md; the plans
 * are written out in docs/query-plans.md).
 *
 * The rows are generated set-based, in time order as the processor writes them, with the running
 * totals in closed form (each stream's chat and donations are the same every minute), so seeding
 * needs no sort.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type pg from 'pg';
import { TOP_MINUTES, TOP_N } from '../../../src/realtime/dashboard/live-hub.ts';
import {
  selectOverview,
  selectSeries,
  selectStreamStates,
  selectTopStreamsByEveryRanking,
} from '../../../src/realtime/serving/index.ts';
import { encodeCursor } from '../../../src/realtime/api/cursor.ts';
import { createTestDatabase, type TestDatabase } from '../../helpers/postgres.ts';
import { buildTestApi } from '../api/fixtures.ts';

interface PlanNode {
  'Node Type': string;
  'Relation Name'?: string;
  'Shared Hit Blocks'?: number;
  'Shared Read Blocks'?: number;
  'Actual Rows'?: number;
  'Actual Loops'?: number;
  Plans?: PlanNode[];
}

const STREAMS = 1000;
const MINUTES = 1440;
let db: TestDatabase;
let tablePages = 0;

before(async () => {
  db = await createTestDatabase('plans');
  // Minute j (0 = oldest) of stream s: chat s % 40 and donations (s * 13 % 100) / 4 every minute, so
  // the running totals are (j + 1) times those.
  await db.pool.query(`
    INSERT INTO stream_metrics_minute (window_start, stream_id, window_end, active_viewers, chat_messages,
      donations_usd, donation_count, viewer_joins, viewer_leaves, events, is_final,
      cum_donations_usd, cum_chat_messages, cum_windows)
    SELECT w, 's' || lpad(s::text, 4, '0'), w + interval '1 minute', (s * 7 + j) % 500, s % 40,
           (s * 13 % 100) / 4.0, s % 3, 1, 1, 10, j < ${MINUTES - 2},
           (j + 1) * ((s * 13 % 100) / 4.0), (j + 1) * (s % 40), j + 1
    FROM generate_series(0, ${MINUTES - 1}) j
    CROSS JOIN LATERAL (SELECT date_trunc('minute', now()) - (${MINUTES - 1} - j) * interval '1 minute' AS w) x
    CROSS JOIN LATERAL generate_series(1, ${STREAMS} + 0 * j) s -- minute by minute: j outer`);
  await db.pool.query(`
    INSERT INTO stream_latest_window
    SELECT stream_id, window_start, active_viewers, chat_messages, donations_usd, cum_donations_usd,
           cum_chat_messages, cum_windows
    FROM stream_metrics_minute WHERE window_start = (SELECT max(window_start) FROM stream_metrics_minute)`);
  await db.pool.query(`
    INSERT INTO stream_state SELECT 's' || lpad(s::text, 4, '0'), s % 100, now(), now() FROM generate_series(1, ${STREAMS}) s`);
  await db.pool.query('VACUUM ANALYZE stream_metrics_minute, stream_latest_window, stream_state');
  const { rows } = await db.pool.query(
    `SELECT (pg_relation_size('stream_metrics_minute') + pg_indexes_size('stream_metrics_minute')) / 8192 AS pages`,
  );
  tablePages = Number(rows[0].pages);
});

after(async () => {
  await db?.drop();
});

type Statement = { text: string; values: unknown[] };

/** A pool that remembers every statement it runs (plain or named). */
function recording(pool: pg.Pool, statements: Statement[]): pg.Pool {
  return {
    query: (config: string | { text: string; values?: unknown[] }, values: unknown[] = []) => {
      const statement =
        typeof config === 'string'
          ? { text: config, values }
          : { text: config.text, values: config.values ?? [] };
      statements.push(statement);
      // As given (a named statement keeps its rowMode: the API reads rows as arrays).
      return typeof config === 'string'
        ? pool.query(config, values)
        : pool.query({ ...config, values: statement.values });
    },
  } as unknown as pg.Pool;
}

function nodes(plan: PlanNode): PlanNode[] {
  return [plan, ...(plan.Plans ?? []).flatMap(nodes)];
}

const READS_RANGE = new Set(['Seq Scan', 'Bitmap Heap Scan', 'Index Scan', 'Index Only Scan']);

/** EXPLAIN ANALYZE of a statement: pages touched; fails on a sequential scan of the windows or a sorted range. */
async function explain(what: string, { text, values }: Statement): Promise<number> {
  const { rows } = await db.pool.query(`EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) ${text}`, values);
  const plan = (rows[0]['QUERY PLAN'] as { Plan: PlanNode }[])[0]?.Plan as PlanNode;
  for (const node of nodes(plan)) {
    assert.ok(
      !(node['Node Type'] === 'Seq Scan' && node['Relation Name'] === 'stream_metrics_minute'),
      `${what}: sequential scan of stream_metrics_minute:\n${text}\n${JSON.stringify(plan, null, 1)}`,
    );
    // A sort is allowed only over few rows (a top-n of the streams, one stream's page): never over
    // the windows of a range of all streams.
    if (node['Node Type'] === 'Sort') {
      const input = node.Plans?.[0];
      const rowsIn = (input?.['Actual Rows'] ?? 0) * (input?.['Actual Loops'] ?? 1);
      assert.ok(
        !(
          READS_RANGE.has(input?.['Node Type'] ?? '') &&
          input?.['Relation Name'] === 'stream_metrics_minute' &&
          rowsIn > STREAMS
        ),
        `${what}: a sort of ${rowsIn} windows read from stream_metrics_minute:\n${text}`,
      );
    }
  }
  return (plan['Shared Hit Blocks'] ?? 0) + (plan['Shared Read Blocks'] ?? 0);
}

// Pages (8 kB) each request may touch, all its statements together. The table and its indexes are
// ~60,000 pages; a range scan of an hour of all streams alone would be ~1,500.
const BUDGETS: [url: string, pages: number][] = [
  ['/metrics', 60],
  ['/metrics?minutes=60&limit=1000&offset=900', 150],
  ['/metrics?stream_id=s0500', 150],
  ['/metrics?minutes=10080&limit=1000&offset=100000', 3500], // 101,000 rows must be read: use pages
  ['/metrics/latest', 60],
  ['/metrics/latest?limit=100&offset=900', 60],
  ['/metrics/latest?stream_id=s0500', 20],
  ['/metrics/history', 60],
  ['/metrics/history?stream_id=s0500&minutes=1440&limit=200', 250],
  ['/streams/top', 150],
  ['/streams/top?by=active_viewers&minutes=1', 150],
  // The range starts before the oldest window: no stream has a window in that minute, so each gets
  // a probe of the per-stream index (about 3 pages a stream, whatever the table size).
  ['/streams/top?by=chat_messages&minutes=1440&n=100', 3500],
  ['/streams/top?by=donations_usd&minutes=10080', 3500],
  ['/state', 30],
  ['/state?limit=100&offset=900', 30],
  ['/prometheus', 300],
];

test('the table is 1.44M windows, far larger than any budget', async () => {
  const { rows } = await db.pool.query('SELECT count(*)::int AS n FROM stream_metrics_minute');
  assert.equal(rows[0].n, STREAMS * MINUTES);
  for (const [url, budget] of BUDGETS) {
    assert.ok(budget * 10 < tablePages, `${url}: budget ${budget} is not far below the ${tablePages} pages`);
  }
});

for (const [url, budget] of BUDGETS) {
  test(`${url}: index-driven, within ${budget} pages`, async () => {
    const statements: Statement[] = [];
    const { app } = await buildTestApi({ pool: recording(db.pool, statements), windowMemoryMs: 0 });
    try {
      const response = await app.inject({ url });
      assert.equal(response.statusCode, 200, response.body);
    } finally {
      await app.close();
    }
    assert.ok(statements.length > 0);
    let pages = 0;
    for (const s of statements) if (s.text !== 'SELECT 1') pages += await explain(url, s);
    assert.ok(pages <= budget, `${url} touched ${pages} pages; budget ${budget}`);
  });
}

test('a keyset page (cursor) reads only its rows, however deep: no offset scan', async () => {
  const { rows } = await db.pool.query<{ latest: Date }>(
    'SELECT max(window_start) AS latest FROM stream_metrics_minute',
  );
  const latest = (rows[0] as { latest: Date }).latest.toISOString();
  const minutesBack = (m: number) => new Date(Date.parse(latest) - m * 60_000).toISOString();
  const range = (windowStart: string, streamId = 's0500') =>
    encodeCursor({ kind: 'range', latest, windowStart, streamId });
  // The deepest offset page above reads 101,000 rows (3,500 pages); its keyset twin reads 1,000.
  const cases: [url: string, pages: number][] = [
    [`/metrics?minutes=10080&limit=1000&cursor=${range(minutesBack(101))}`, 150],
    [`/metrics?minutes=60&limit=100&cursor=${range(minutesBack(30), 's0999')}`, 60],
    [`/metrics?minutes=1440&limit=100&stream_id=s0500&cursor=${range(minutesBack(1000))}`, 150],
    [`/metrics/history?minutes=1440&limit=1000&cursor=${range(minutesBack(700))}`, 150],
    [`/metrics/history?minutes=1440&limit=200&stream_id=s0500&cursor=${range(minutesBack(700))}`, 250],
    [`/metrics/latest?limit=100&cursor=${encodeCursor({ kind: 'latest', latest, streamId: 's0900' })}`, 60],
    [`/state?limit=100&cursor=${encodeCursor({ kind: 'state', streamId: 's0900' })}`, 30],
  ];
  for (const [url, budget] of cases) {
    const statements: Statement[] = [];
    const { app } = await buildTestApi({ pool: recording(db.pool, statements), windowMemoryMs: 0 });
    let body: { rows: unknown[]; next_cursor: string | null };
    try {
      const response = await app.inject({ url });
      assert.equal(response.statusCode, 200, response.body);
      body = response.json();
    } finally {
      await app.close();
    }
    assert.ok(body.rows.length > 0, `${url}: a page of rows`);
    let pages = 0;
    for (const s of statements) if (s.text !== 'SELECT 1') pages += await explain(url, s);
    assert.ok(pages <= budget, `${url} touched ${pages} pages; budget ${budget}`);
  }
});

test('/streams/top from the summaries equals the sums over the windows of the range', async () => {
  for (const minutes of [1, 7, 60, 1440]) {
    const { app } = await buildTestApi({ pool: db.pool, windowMemoryMs: 0 });
    const body = (await app.inject({ url: `/streams/top?minutes=${minutes}&by=chat_messages&n=20` })).json();
    await app.close();
    const { rows } = await db.pool.query(
      `SELECT stream_id, sum(donations_usd)::float8 AS donations_usd, sum(chat_messages)::float8 AS chat_messages,
              (array_agg(active_viewers ORDER BY window_start DESC))[1] AS active_viewers, count(*)::int AS windows
         FROM stream_metrics_minute
        WHERE window_start > (SELECT max(window_start) FROM stream_metrics_minute) - make_interval(mins => $1)
        GROUP BY stream_id ORDER BY chat_messages DESC, stream_id LIMIT 20`,
      [minutes],
    );
    assert.deepEqual(body.rows, rows, `minutes=${minutes}`);
  }
});

test('each statement of a dashboard poll is index-driven and within its budget of pages', async () => {
  const statements: Statement[] = [];
  const pool = recording(db.pool, statements);
  const overview = await selectOverview(pool);
  const anchor = overview.latest as Date;
  assert.ok(anchor !== null);
  const top = await selectTopStreamsByEveryRanking(pool, { anchor, minutes: TOP_MINUTES, n: TOP_N });
  assert.ok(top.length >= TOP_N && top.length <= 3 * TOP_N);
  const streamIds = ['s0001', 's0500', 's0999'];
  const series = await selectSeries(pool, { streamIds, anchor, minutes: [360, 360, 360] });
  assert.equal(series.length, 3 * 360);
  assert.equal((await selectStreamStates(pool, streamIds)).length, 3);
  // Rows of one stream are spread over the heap (1,000 streams a minute): its series costs about a
  // page a window.
  const budgets: [what: string, pages: number][] = [
    ['overview: newest window, its freshness, events of a minute, streams seen', 150],
    ["top streams: each stream's newest totals and those at the lookback start", 150],
    ['series: 3 streams x 360 windows', 1200],
    ['state: 3 streams', 20],
  ];
  assert.equal(statements.length, budgets.length);
  for (const [i, statement] of statements.entries()) {
    const [what, budget] = budgets[i] as [string, number];
    const pages = await explain(what, statement);
    assert.ok(pages <= budget, `${what}: touched ${pages} pages; budget ${budget}`);
  }
});

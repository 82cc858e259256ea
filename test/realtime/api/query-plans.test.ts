/**
 * The read endpoints stay index-driven at scale: with 1,000 streams x 4 h of windows, no statement
 * behind them (default parameters, and the deepest page) reads stream_metrics_minute with a
 * sequential scan or sorts a whole range, and each stays within a budget of pages touched.
 * Plans and pages, not timings: timings belong to the benchmarks.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type pg from 'pg';
import { createTestDatabase, type TestDatabase } from '../../helpers/postgres.ts';
import { buildTestApi } from './fixtures.ts';

interface PlanNode {
  'Node Type': string;
  'Relation Name'?: string;
  'Shared Hit Blocks'?: number;
  'Shared Read Blocks'?: number;
  Plans?: PlanNode[];
}

let db: TestDatabase;
const statements: { text: string; values: unknown[] }[] = [];

/** A pool that remembers every statement it runs. */
function recording(pool: pg.Pool): pg.Pool {
  return {
    query: (text: string, values: unknown[] = []) => {
      statements.push({ text, values });
      return pool.query(text, values);
    },
  } as unknown as pg.Pool;
}

before(async () => {
  db = await createTestDatabase('api_plans');
  await db.pool.query(`
    INSERT INTO stream_metrics_minute (window_start, stream_id, window_end, active_viewers, chat_messages,
      donations_usd, donation_count, viewer_joins, viewer_leaves, events, is_final)
    SELECT w, 's' || lpad(s::text, 4, '0'), w + interval '1 minute', (s * 7 + m) % 500, (s + m) % 50,
           ((s * m) % 1000) / 100.0, (s * m) % 3, 1, 1, 10, m > 10
    FROM generate_series(0, 239) m, generate_series(1, 1000) s,
         LATERAL (SELECT date_trunc('minute', now()) - m * interval '1 minute' AS w) x
    ORDER BY w, s -- in time order, as the processor writes them
  `);
  await db.pool.query(`
    INSERT INTO stream_state SELECT 's' || lpad(s::text, 4, '0'), s % 100, now(), now() FROM generate_series(1, 1000) s`);
  await db.pool.query('VACUUM ANALYZE stream_metrics_minute');
  await db.pool.query('ANALYZE stream_state');
});

after(async () => {
  await db?.drop();
});

function nodes(plan: PlanNode): PlanNode[] {
  return [plan, ...(plan.Plans ?? []).flatMap(nodes)];
}

const READS_RANGE = new Set(['Seq Scan', 'Bitmap Heap Scan', 'Index Scan', 'Index Only Scan']);

// Pages (8 kB) each request may touch, all its statements together: about 3x what the rows it
// needs take, below the size of the table and its indexes (checked by the first test). A plan that walks a whole index or
// the table blows the budget even when it is neither a sequential scan nor a sort.
const BUDGETS: [url: string, pages: number][] = [
  ['/metrics', 100],
  ['/metrics?stream_id=s0500', 60],
  ['/metrics?minutes=10080&limit=1000&offset=100000', 3000], // 101,000 of 240,000 rows must be read
  ['/metrics/latest', 100],
  ['/metrics/latest?stream_id=s0500', 30],
  ['/metrics/history', 100],
  ['/metrics/history?stream_id=s0500&minutes=1440&limit=10000', 800],
  ['/streams/top', 500],
  ['/streams/top?by=active_viewers', 500],
  ['/streams/top?by=chat_messages&minutes=60&n=100', 2000],
  ['/state', 50],
  ['/prometheus', 300],
];

test('the table is large enough for the budgets to mean something', async () => {
  const { rows } = await db.pool.query(
    `SELECT (pg_relation_size('stream_metrics_minute') + pg_indexes_size('stream_metrics_minute')) / 8192 AS pages`,
  );
  const tablePages = Number(rows[0].pages);
  for (const [url, budget] of BUDGETS) {
    assert.ok(
      budget < tablePages,
      `${url}: budget ${budget} is not below the ${tablePages} pages of the table`,
    );
  }
});

for (const [url, budget] of BUDGETS) {
  test(`${url}: index-driven, within ${budget} pages`, async () => {
    statements.length = 0;
    const { app } = await buildTestApi({ pool: recording(db.pool) });
    try {
      const response = await app.inject({ url });
      assert.equal(response.statusCode, 200, response.body);
    } finally {
      await app.close();
    }
    assert.ok(statements.length > 0);
    let pages = 0;
    for (const { text, values } of statements) {
      if (text === 'SELECT 1') continue;
      const { rows } = await db.pool.query(`EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) ${text}`, values);
      const plan = (rows[0]['QUERY PLAN'] as { Plan: PlanNode }[])[0]?.Plan as PlanNode;
      pages += (plan['Shared Hit Blocks'] ?? 0) + (plan['Shared Read Blocks'] ?? 0);
      for (const node of nodes(plan)) {
        assert.ok(
          !(node['Node Type'] === 'Seq Scan' && node['Relation Name'] === 'stream_metrics_minute'),
          `sequential scan of stream_metrics_minute:\n${text}\n${JSON.stringify(plan, null, 1)}`,
        );
        // Over all streams a range is up to 1,000 rows a minute and must come in index order (an
        // incremental sort by stream_id within each window is fine). One stream's range is at most
        // 10,080 rows, found by its index; the planner may sort those.
        if (node['Node Type'] === 'Sort') {
          const input = node.Plans?.[0]?.['Node Type'] ?? '';
          assert.ok(
            !(READS_RANGE.has(input) && url.startsWith('/metrics') && !url.includes('stream_id')),
            `a full sort of the scanned range (expected index order or an incremental sort):\n${text}`,
          );
        }
      }
    }
    assert.ok(pages <= budget, `${url} touched ${pages} pages; budget ${budget}`);
  });
}

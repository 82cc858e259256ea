/**
 * The dashboard's poll stays index-driven at scale: with 1,000 streams x 4 h of windows, no
 * statement of a poll (overview, top streams, series and state of a few selected streams) reads
 * stream_metrics_minute with a sequential scan, and each stays within a budget of pages touched.
 * (The same method as test/api/query-plans.test.ts: plans and pages, not timings.)
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
import { createTestDatabase, type TestDatabase } from '../../helpers/postgres.ts';

interface PlanNode {
  'Node Type': string;
  'Relation Name'?: string;
  'Shared Hit Blocks'?: number;
  'Shared Read Blocks'?: number;
  Plans?: PlanNode[];
}

let db: TestDatabase;

before(async () => {
  db = await createTestDatabase('web_plans');
  await db.pool.query(`
    INSERT INTO stream_metrics_minute (window_start, stream_id, window_end, active_viewers, chat_messages,
      donations_usd, donation_count, viewer_joins, viewer_leaves, events, is_final)
    SELECT w, 's' || lpad(s::text, 4, '0'), w + interval '1 minute', (s * 7 + m) % 500, (s + m) % 50,
           ((s * m) % 1000) / 100.0, (s * m) % 3, 1, 1, 10, m > 10
    FROM generate_series(0, 239) m, generate_series(1, 1000) s,
         LATERAL (SELECT date_trunc('minute', now()) - m * interval '1 minute' AS w) x
    ORDER BY w, s
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

/** A pool that remembers every statement it runs. */
function recording(pool: pg.Pool, statements: { text: string; values: unknown[] }[]): pg.Pool {
  return {
    query: (text: string, values: unknown[] = []) => {
      statements.push({ text, values });
      return pool.query(text, values);
    },
  } as unknown as pg.Pool;
}

test('each statement of a dashboard poll is index-driven and within its budget of pages', async () => {
  const statements: { text: string; values: unknown[] }[] = [];
  const pool = recording(db.pool, statements);
  const overview = await selectOverview(pool);
  const anchor = overview.latest as Date;
  assert.ok(anchor !== null);
  const top = await selectTopStreamsByEveryRanking(pool, { anchor, minutes: TOP_MINUTES, n: TOP_N });
  assert.ok(top.length >= TOP_N && top.length <= 3 * TOP_N);
  const streamIds = ['s0001', 's0500', 's0999'];
  const series = await selectSeries(pool, { streamIds, anchor, minutes: 360 });
  assert.equal(series.length, 3 * 240);
  assert.equal((await selectStreamStates(pool, streamIds)).length, 3);

  // Pages (8 kB) each statement may touch, in the order a poll runs them. Rows of one stream are
  // spread over the heap (written in time order, 1,000 streams a minute): its series costs about
  // a page a window, like /metrics/history?stream_id= in the API's plan test.
  const budgets: [what: string, pages: number][] = [
    ['overview: newest window, its freshness, events of a minute, streams seen', 150],
    ["top streams: 10 minutes of 1,000 streams, then each kept stream's newest window", 600],
    ['series: 3 streams x 240 windows', 800],
    ['state: 3 streams', 30],
  ];
  assert.equal(statements.length, budgets.length);
  const { rows: size } = await db.pool.query(
    `SELECT (pg_relation_size('stream_metrics_minute') + pg_indexes_size('stream_metrics_minute')) / 8192 AS pages`,
  );
  const tablePages = Number(size[0].pages);
  for (const [i, { text, values }] of statements.entries()) {
    const [what, budget] = budgets[i] as [string, number];
    assert.ok(
      budget < tablePages / 5,
      `${what}: budget ${budget} is well below the ${tablePages} pages of the table`,
    );
    const { rows } = await db.pool.query(`EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) ${text}`, values);
    const plan = (rows[0]['QUERY PLAN'] as { Plan: PlanNode }[])[0]?.Plan as PlanNode;
    const pages = (plan['Shared Hit Blocks'] ?? 0) + (plan['Shared Read Blocks'] ?? 0);
    for (const node of nodes(plan)) {
      assert.ok(
        !(node['Node Type'] === 'Seq Scan' && node['Relation Name'] === 'stream_metrics_minute'),
        `${what}: sequential scan of stream_metrics_minute:\n${text}\n${JSON.stringify(plan, null, 1)}`,
      );
    }
    assert.ok(pages <= budget, `${what}: touched ${pages} pages; budget ${budget}`);
  }
});

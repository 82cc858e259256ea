/**
 * The marts (npm run bench -- marts [--facts N], default 10,000,000): build every model of the dbt
 * project and run all its data tests (`rtsa marts build`'s code path) over a warehouse of N event
 * facts. Loading 10M events through the lake and the daily load would take far longer than the
 * build itself (docs/warehouse.md), so the warehouse is generated with set-based SQL straight into
 * its tables: 100,000 users (a fifth with two dim_user versions), 30 days, the seed's event mix
 * (page_view 60 %, user_signup 10 %, purchase 20 %, payment_failed 10 %), USD/EUR/GBP, one session
 * per four events, the migrations' indexes, then VACUUM ANALYZE. The build and tests are timed
 * twice: the first after the generation, the second right after the first.
 */
import { createPool, migrate } from '../src/db/index.ts';
import { buildMarts, testMarts } from '../src/lakehouse/marts/index.ts';
import { scratch } from './harness.ts';
import type { BenchOptions } from './options.ts';

const USERS = 100_000;
const DAYS = 30;
const START = '2026-11-01';
const CHUNK = 1_000_000;

export async function runMarts(opts: BenchOptions): Promise<Record<string, unknown>> {
  const facts = opts.facts;
  const sessions = Math.floor(facts / 4);
  const env = await scratch();
  const pool = createPool(env.pgUrl, 2);
  try {
    await migrate(pool);
    const t0 = performance.now();
    await generate(pool, facts, sessions);
    const generateSeconds = (performance.now() - t0) / 1000;
    console.log(`generated ${facts.toLocaleString('en')} facts in ${generateSeconds.toFixed(0)} s`);
    const runs = [];
    for (let i = 0; i < 2; i++) {
      const built = await buildMarts({ pool });
      const tested = await testMarts({ pool });
      if (!tested.passed)
        throw new Error(
          `data tests failed: ${tested.tests.filter((t) => t.status === 'fail').map((t) => t.name)}`,
        );
      const run = {
        build_seconds: round(built.ms / 1000),
        test_seconds: round(tested.ms / 1000),
        total_seconds: round((built.ms + tested.ms) / 1000),
        models: Object.fromEntries(
          built.models.map((m) => [m.name, { rows: m.rows, seconds: round(m.ms / 1000) }]),
        ),
        tests: tested.tests.length,
        slowest_tests: tested.tests
          .toSorted((a, b) => b.ms - a.ms)
          .slice(0, 5)
          .map((t) => `${t.name} ${round(t.ms / 1000)} s`),
      };
      console.log(JSON.stringify(run));
      runs.push(run);
    }
    return {
      facts,
      sessions,
      users: USERS,
      days: DAYS,
      generate_seconds: Math.round(generateSeconds),
      first: runs[0],
      second: runs[1],
      setup: `${facts.toLocaleString('en')} event facts, ${sessions.toLocaleString('en')} sessions, ${USERS.toLocaleString('en')} users over ${DAYS} days generated with set-based SQL into the warehouse of the embedded Postgres (indexes of the migrations, VACUUM ANALYZE); buildMarts then testMarts (every model, every data test), twice`,
    };
  } finally {
    await pool.end();
    await env.close();
  }
}

const round = (x: number) => Math.round(x * 10) / 10;

export async function generate(
  pool: ReturnType<typeof createPool>,
  facts: number,
  sessions: number,
): Promise<void> {
  const client = await pool.connect();
  try {
    // Bulk generation: no per-row foreign-key triggers (the keys are right by construction).
    await client.query("SET session_replication_role = 'replica'");
    await client.query("SET maintenance_work_mem = '512MB'");
    await client.query(`
      INSERT INTO warehouse.dim_user (user_key, user_id, email, username, signup_source, signup_date, plan_type,
                                      user_tier, effective_start, effective_end, is_current, version_number)
      SELECT warehouse.key64('user-' || u || '#' || v), 'user-' || u, 'user-' || u || '@example.com', 'user-' || u,
             'organic', date '${START}',
             CASE WHEN v = 2 THEN 'basic' ELSE (ARRAY['free','free','free','premium','enterprise'])[1 + u % 5] END,
             (ARRAY['bronze','bronze','silver','gold','platinum'])[1 + (u / 7) % 5],
             CASE WHEN v = 1 THEN timestamp '${START}' ELSE timestamp '${START}' + interval '10 days' END,
             CASE WHEN v = 1 AND u % 5 = 0 THEN timestamp '${START}' + interval '10 days' END,
             NOT (v = 1 AND u % 5 = 0), v
      FROM generate_series(0, ${USERS - 1}) u
      CROSS JOIN LATERAL generate_series(1, CASE WHEN u % 5 = 0 THEN 2 ELSE 1 END) v`);
    for (let from = 1; from <= facts; from += CHUNK) {
      const to = Math.min(facts, from + CHUNK - 1);
      process.stdout.write(`\rfacts ${from.toLocaleString('en')}…${to.toLocaleString('en')}   `);
      // Each fact: a user, a time spread over the days, a type by the seed's weights.
      await client.query(`
        INSERT INTO warehouse.fact_events (event_key, event_id, idempotency_key, user_id, user_key, time_key, device_key,
          event_type, schema_version, session_id, event_timestamp, page_view_count, purchase_amount, currency,
          purchase_amount_usd, purchase_quantity, is_conversion, is_error, payload_json)
        SELECT g, 'e' || g, 'k' || g, 'user-' || x.u, warehouse.key64('user-' || x.u || '#' || CASE WHEN x.u % 5 = 0 THEN 2 ELSE 1 END),
               (extract(epoch FROM date_trunc('hour', x.ts) - timestamp '2020-01-01') / 3600)::int + 1,
               (ARRAY[1, 1, 11, 6, 17])[1 + g % 5], x.type, 'v1', 's' || (g / 4), x.ts,
               (x.type = 'page_view')::int,
               CASE WHEN x.type = 'purchase' THEN x.amount ELSE 0 END,
               CASE WHEN x.type = 'purchase' THEN x.cur END,
               CASE WHEN x.type = 'purchase' THEN round(x.amount * c.usd_rate, 2) ELSE 0 END,
               CASE WHEN x.type = 'purchase' THEN 1 + g % 3 ELSE 0 END,
               x.type = 'purchase', x.type = 'payment_failed', '{}'::jsonb
        FROM generate_series(${from}::bigint, ${to}) g
        CROSS JOIN LATERAL (
          -- Users whose id ends in 9 stop after the first third of the days, in 8 after 70 %: churn risk.
          SELECT CASE WHEN (g * 7919) % ${USERS} % 10 = 9 AND g > ${Math.floor(facts / 3)}
                        OR (g * 7919) % ${USERS} % 10 = 8 AND g > ${Math.floor(facts * 0.7)}
                      THEN (g * 7919) % ${USERS} - 2 ELSE (g * 7919) % ${USERS} END AS u,
                 timestamp '${START}' + ((g - 1)::float8 / ${facts} * ${DAYS} * 86400) * interval '1 second' AS ts,
                 CASE WHEN g % 10 < 6 THEN 'page_view' WHEN g % 10 = 6 THEN 'user_signup'
                      WHEN g % 10 < 9 THEN 'purchase' ELSE 'payment_failed' END AS type,
                 round((10 + (g * 31) % 99000 / 100.0)::numeric, 2) AS amount,
                 (ARRAY['USD','USD','USD','EUR','GBP'])[1 + (g / 10) % 5] AS cur
        ) x
        LEFT JOIN warehouse.dim_currency c ON c.currency = x.cur`);
    }
    process.stdout.write('\n');
    await client.query(`
      INSERT INTO warehouse.fact_sessions (session_key, session_id, user_id, user_key, time_key, device_key, session_start,
        session_end, duration_seconds, event_count, page_views, purchases, payment_failures, signups, event_types, first_event_id)
      SELECT g, 's' || g, 'user-' || x.u, warehouse.key64('user-' || x.u || '#' || CASE WHEN x.u % 5 = 0 THEN 2 ELSE 1 END),
             NULL, 1, x.ts, x.ts + interval '10 minutes', 600, 4, 2, 1, 0, 0, 'page_view,purchase', 'e' || (g * 4)
      FROM generate_series(0::bigint, ${sessions - 1}) g
      CROSS JOIN LATERAL (SELECT (g * 4 * 7919) % ${USERS} AS u,
                                 timestamp '${START}' + ((g * 4)::float8 / ${facts} * ${DAYS} * 86400) * interval '1 second' AS ts) x`);
    await client.query(
      `INSERT INTO warehouse.loaded_dates (load_date) SELECT d::date FROM generate_series(date '${START}', date '${START}' + ${DAYS - 1}, interval '1 day') d`,
    );
    await client.query("SET session_replication_role = 'origin'");
    await client.query('VACUUM ANALYZE warehouse.dim_user, warehouse.fact_events, warehouse.fact_sessions');
  } finally {
    client.release();
  }
}

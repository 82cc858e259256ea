/**
 * `npm run bench -- spark-warehouse`: system B's daily warehouse load side by side with the seed's
 * engine, on the same silver day and the same Postgres, each alone:
 *   1. N commerce events of one day (the seed's generator, 10,000 users, 1 % bad data) through
 *      rtsa's silver layer into a local lake (as `npm run bench -- warehouse`);
 *   2. Spark, local[2], the seed's batch loader (bench/spark/warehouse_job.py) from that silver into
 *      the seed's tables (schema seed_wh, the seed's DDL and indexes): SCD-2, JDBC temporary table,
 *      INSERT … ON CONFLICT DO NOTHING;
 *   3. rtsa's `rtsa warehouse load` code path (loadWarehouseDate) into its warehouse schema.
 * Each load is timed from its start to its commit (Spark's JVM start-up apart); CPU-seconds count
 * the engine's processes and Postgres.
 */
import path from 'node:path';
import { createPool, migrate } from '../../src/db/index.ts';
import { LocalLakeStore } from '../../src/lakehouse/lake-store/index.ts';
import { loadWarehouseDate } from '../../src/lakehouse/warehouse/index.ts';
import { scratch } from '../harness.ts';
import { cpuSeconds, cpuUsed, sumCpu } from '../kafka-harness.ts';
import type { BenchOptions } from '../options.ts';
import { benchLogger, silverDay } from '../warehouse.ts';
import { ensureSparkVenv, IVY_CACHE, PYSPARK_VERSION, runSparkJob } from './spark-env.ts';

const DAY = '2026-11-03';

/** The seed's dim_user and fact_events (warehouse/ddl/*.sql; seeds-code-facts.md A3), indexes included. */
const SEED_DDL = `
CREATE SCHEMA seed_wh;
CREATE TABLE seed_wh.dim_user (
  user_key serial PRIMARY KEY, user_id varchar(100) NOT NULL, email varchar(255), username varchar(100),
  plan_type varchar(50), subscription_status varchar(50), user_tier varchar(50), country varchar(100),
  region varchar(100), city varchar(100), timezone varchar(50), signup_date date, signup_source varchar(100),
  effective_start_date timestamp NOT NULL, effective_end_date timestamp, is_current boolean NOT NULL DEFAULT true,
  version_number int NOT NULL DEFAULT 1, created_at timestamp DEFAULT now(), updated_at timestamp DEFAULT now());
CREATE INDEX ON seed_wh.dim_user (user_id);
CREATE INDEX ON seed_wh.dim_user (user_id, is_current) WHERE is_current;
CREATE INDEX ON seed_wh.dim_user (user_id, effective_start_date, effective_end_date);
CREATE INDEX ON seed_wh.dim_user (plan_type);
CREATE TABLE seed_wh.fact_events (
  event_key bigserial PRIMARY KEY, event_id varchar(100) NOT NULL,
  idempotency_key varchar(100) NOT NULL CONSTRAINT uq_fact_events_idempotency UNIQUE,
  user_key int REFERENCES seed_wh.dim_user, time_key int REFERENCES warehouse.dim_time,
  device_key int REFERENCES warehouse.dim_device, event_type varchar(50) NOT NULL, schema_version varchar(20),
  session_id varchar(100), ip_address varchar(45), geo_country varchar(100), geo_region varchar(100),
  geo_city varchar(100), geo_latitude decimal(10,8), geo_longitude decimal(11,8), page_view_count int DEFAULT 0,
  purchase_amount decimal(12,2) DEFAULT 0, purchase_quantity int DEFAULT 0, is_conversion boolean DEFAULT false,
  is_error boolean DEFAULT false, payload_json jsonb, event_timestamp timestamp NOT NULL,
  kafka_timestamp timestamp, ingestion_timestamp timestamp, warehouse_loaded_at timestamp DEFAULT now(),
  data_quality_score decimal(3,2));
CREATE INDEX ON seed_wh.fact_events (user_key);
CREATE INDEX ON seed_wh.fact_events (time_key);
CREATE INDEX ON seed_wh.fact_events (device_key);
CREATE INDEX ON seed_wh.fact_events (event_type);
CREATE INDEX ON seed_wh.fact_events (event_timestamp);
CREATE INDEX ON seed_wh.fact_events (user_key, event_timestamp);
CREATE INDEX ON seed_wh.fact_events (user_key, purchase_amount) WHERE event_type = 'purchase';
CREATE INDEX ON seed_wh.fact_events (event_timestamp) WHERE is_error;`;

export async function runSparkWarehouse(opts: BenchOptions): Promise<Record<string, unknown>> {
  const python = ensureSparkVenv();
  const events = Math.min(opts.events, 2_000_000);
  const env = await scratch();
  const pool = createPool(env.pgUrl, 4);
  const lake = path.join(env.dir, 'lake');
  try {
    await migrate(pool);
    await pool.query(SEED_DDL);
    const sent = await silverDay(env.dir, pool, new LocalLakeStore(lake), events, DAY);
    await pool.query('VACUUM ANALYZE');

    const spark = await sparkSide(python, env.pgUrl, lake);
    console.log(`spark: ${JSON.stringify(spark)}`);
    // Spark's rows vacuumed and checkpointed before rtsa starts, so that neither autovacuum nor a
    // checkpoint of its WAL lands in rtsa's time (untimed).
    await pool.query('VACUUM ANALYZE');
    await pool.query('CHECKPOINT');

    const before = cpuSeconds();
    const load = await loadWarehouseDate(
      { pool, store: new LocalLakeStore(lake), logger: benchLogger() },
      DAY,
    );
    const after = cpuSeconds();
    const seconds = load.ms / 1000;
    const rtsa = {
      seconds: Number(seconds.toFixed(1)),
      facts: load.newEvents,
      facts_per_second: Math.round(load.newEvents / seconds),
      facts_per_cpu_second: Math.round(load.newEvents / sumCpu(before, after, ['bench process', 'postgres'])),
      users: load.users,
      versions: load.versions,
      cpu: cpuUsed(before, after, seconds),
    };
    console.log(`rtsa: ${JSON.stringify(rtsa)}`);
    const ratio = (a: number, b: number) => Number((a / b).toFixed(2));
    const ratios = {
      facts_per_second: ratio(rtsa.facts_per_second, spark.facts_per_second),
      facts_per_cpu_second: ratio(rtsa.facts_per_cpu_second, spark.facts_per_cpu_second),
    };
    console.log(
      `rtsa / Spark: ${ratios.facts_per_second}x facts/s, ${ratios.facts_per_cpu_second}x per CPU-s`,
    );
    return {
      date: DAY,
      events: sent,
      ratios,
      spark,
      rtsa,
      setup:
        `${sent.toLocaleString('en')} commerce events of one day (seed generator, 10,000 users, 1 % bad) through ` +
        "rtsa's silver layer into a local lake; the same embedded Postgres for both; " +
        `Spark ${PYSPARK_VERSION} local[2], the seed's batch loader into schema seed_wh (seed DDL and indexes), ` +
        "then rtsa's loadWarehouseDate into its warehouse schema, each into empty tables",
    };
  } finally {
    await pool.end();
    await env.close();
  }
}

async function sparkSide(python: string, pgUrl: string, lake: string) {
  const url = new URL(pgUrl);
  const spawned = performance.now();
  let sessionAt = 0;
  let before: Record<string, number> = {};
  let after: Record<string, number> = {};
  console.log('spark: starting the JVM');
  const job = runSparkJob(
    python,
    'warehouse_job.py',
    [
      ['--lake', lake],
      ['--date', DAY],
      ['--pg-host', url.hostname],
      ['--pg-port', url.port],
      ['--pg-db', url.pathname.slice(1)],
      ['--pg-user', decodeURIComponent(url.username)],
      ['--pg-password', decodeURIComponent(url.password)],
      ['--ivy', IVY_CACHE],
    ].flat(),
    (line) => {
      if (line.event === 'session') sessionAt = performance.now();
      else if (line.event === 'started') before = cpuSeconds();
      else if (line.event === 'done') after = cpuSeconds();
      else if (line.event === 'step') console.log(`spark: ${line.step} (${line.seconds} s)`);
    },
  );
  const lines = await job.done;
  const started = lines.find((l) => l.event === 'started')!;
  const done = lines.find((l) => l.event === 'done')!;
  const seconds = done.t - started.t;
  const facts = Number(done.facts);
  return {
    startup_seconds: Number(((sessionAt - spawned) / 1000).toFixed(1)),
    seconds: Number(seconds.toFixed(1)),
    facts,
    facts_per_second: Math.round(facts / seconds),
    facts_per_cpu_second: Math.round(facts / sumCpu(before, after, ['spark', 'postgres'])),
    new_users: done.new_users,
    upgrades: done.upgrades,
    steps: Object.fromEntries(lines.filter((l) => l.event === 'step').map((l) => [l.step, l.seconds])),
    cpu: cpuUsed(before, after, seconds),
  };
}

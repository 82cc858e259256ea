/**
 * rtsa's runner for the marts' dbt project (SPEC §6.5): `buildMarts` builds every model in
 * dependency order, each in its own transaction; `testMarts` runs the data tests. `rtsa marts
 * build` is one then the other, like `dbt build`; the DAG calls them as two tasks.
 *
 * A table model is built beside the live one and swapped in by renames inside its transaction
 * (as dbt-postgres does): a reader sees the old table until the commit and the new one after it
 * (a query that reached the old table while the swap held its lock resolves the name again), never
 * a missing or half-filled one. A failed build leaves the previous table in place.
 */
import type { Logger } from 'pino';
import pg from 'pg';
import { fileURLToPath } from 'node:url';
import { storeError, withTransaction } from '../../db/index.ts';
import { type DataTest, loadProject, type MartsProject, type Model } from './project.ts';

/** The dbt project shipped with rtsa (the repository's dbt/ folder). */
export const DEFAULT_PROJECT_DIR = fileURLToPath(new URL('../../../dbt/', import.meta.url));

/** Serialises builds: two at once would both create the same temporary names. */
const LOCK = 'rtsa.marts.build';

export interface MartsOptions {
  pool: pg.Pool;
  logger?: Logger | undefined;
  /** The dbt project folder (default DEFAULT_PROJECT_DIR); read and checked on every call. */
  projectDir?: string | undefined;
  /** An already loaded project (instead of projectDir). */
  project?: MartsProject | undefined;
}

function projectOf(options: MartsOptions): MartsProject {
  return options.project ?? loadProject(options.projectDir ?? DEFAULT_PROJECT_DIR);
}

export interface ModelResult {
  name: string;
  relation: string;
  materialized: Model['materialized'];
  /** Rows of a table model (views: 0). */
  rows: number;
  ms: number;
}

export interface BuildResult {
  models: ModelResult[];
  ms: number;
}

export interface DataTestResult {
  name: string;
  kind: DataTest['kind'];
  file: string;
  /** `error`: the test's SQL itself failed (as dbt's ERROR); the other tests still run. */
  status: 'pass' | 'fail' | 'warn' | 'error';
  /** How many rows the test returned (0 = pass). */
  failures: number;
  /** The first failing rows (at most `maxRows`). */
  rows: Record<string, unknown>[];
  /** Postgres' message when the status is `error`. */
  error?: string | undefined;
  ms: number;
}

export interface TestResult {
  tests: DataTestResult[];
  /** True when no test of severity error failed and none errored. */
  passed: boolean;
  ms: number;
}

/** Builds every model of the project in order. A model that fails stops the build (the error names it). */
export async function buildMarts(options: MartsOptions): Promise<BuildResult> {
  const started = performance.now();
  const models: ModelResult[] = [];
  for (const model of projectOf(options).models) {
    const t0 = performance.now();
    const rows = await withTransaction(
      options.pool,
      (client) => buildModel(client, model),
      `marts: model ${model.name} (${model.file})`,
    );
    const result = {
      name: model.name,
      relation: model.relation,
      materialized: model.materialized,
      rows,
      ms: performance.now() - t0,
    };
    models.push(result);
    options.logger?.info(
      { model: model.name, rows, ms: Math.round(result.ms) },
      `marts: built ${model.relation} (${model.materialized}${model.materialized === 'table' ? `, ${rows} rows` : ''})`,
    );
  }
  return { models, ms: performance.now() - started };
}

async function buildModel(client: pg.PoolClient, model: Model): Promise<number> {
  await client.query('SELECT pg_advisory_xact_lock(hashtext($1))', [LOCK]);
  const schema = quote(model.schema);
  const tmp = `${model.name}__rtsa_tmp`;
  const old = `${model.name}__rtsa_old`;
  await client.query(`CREATE SCHEMA IF NOT EXISTS ${schema}`);
  const kind = model.materialized === 'table' ? 'TABLE' : 'VIEW';
  const created = await client.query(`CREATE ${kind} ${schema}.${quote(tmp)} AS\n${model.sql}`);
  const { rows } = await client.query<{ relkind: string }>(
    `SELECT c.relkind FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE n.nspname = $1 AND c.relname = $2`,
    [model.schema, model.name],
  );
  const existing = rows[0]?.relkind;
  if (existing !== undefined) {
    // ALTER TABLE renames views too; the old relation goes once the new one has its name.
    await client.query(`ALTER TABLE ${schema}.${quote(model.name)} RENAME TO ${quote(old)}`);
  }
  await client.query(`ALTER TABLE ${schema}.${quote(tmp)} RENAME TO ${quote(model.name)}`);
  if (existing !== undefined) {
    await client.query(`DROP ${existing === 'v' ? 'VIEW' : 'TABLE'} ${schema}.${quote(old)}`);
  }
  if (model.materialized === 'table') await client.query(`ANALYZE ${schema}.${quote(model.name)}`);
  return model.materialized === 'table' ? (created.rowCount ?? 0) : 0;
}

/** Dates and times in failing rows as Postgres prints them (`2026-03-01`, not a JS Date's UTC instant). */
const AS_POSTGRES_TEXT = new Set<number>([
  pg.types.builtins.DATE,
  pg.types.builtins.TIMESTAMP,
  pg.types.builtins.TIMESTAMPTZ,
]);
const AS_POSTGRES_PRINTS = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
    AS_POSTGRES_TEXT.has(oid)
      ? (value: string) => value
      : pg.types.getTypeParser(oid, format)) as typeof pg.types.getTypeParser,
};

/** Runs every data test; returns each one's outcome with its first failing rows. */
export async function testMarts(options: MartsOptions & { maxRows?: number }): Promise<TestResult> {
  const started = performance.now();
  const maxRows = options.maxRows ?? 10;
  const tests: DataTestResult[] = [];
  for (const test of projectOf(options).tests) {
    const t0 = performance.now();
    const client = await options.pool.connect();
    let failures = 0;
    let rows: Record<string, unknown>[] = [];
    let error: string | undefined;
    try {
      const counted = await client.query<{ failures: number }>(
        `SELECT count(*)::int AS failures FROM (\n${test.sql}\n) dbt_internal_test`,
      );
      failures = counted.rows[0]?.failures ?? 0;
      if (failures > 0) {
        rows = (
          await client.query({
            text: `SELECT * FROM (\n${test.sql}\n) dbt_internal_test LIMIT ${maxRows}`,
            types: AS_POSTGRES_PRINTS,
          })
        ).rows;
      }
    } catch (caught) {
      const failed = storeError(caught, `marts: data test ${test.name} (${test.file})`);
      // The database gone is no test result: stop. A test whose SQL fails is one (dbt's ERROR).
      if (failed.retriable) throw failed;
      error = (caught as Error).message;
    } finally {
      client.release();
    }
    const status =
      error !== undefined ? 'error' : failures === 0 ? 'pass' : test.severity === 'warn' ? 'warn' : 'fail';
    const result = {
      name: test.name,
      kind: test.kind,
      file: test.file,
      status,
      failures,
      rows,
      ...(error !== undefined ? { error } : {}),
      ms: performance.now() - t0,
    } as const;
    tests.push(result);
    if (status === 'pass')
      options.logger?.debug({ test: test.name, ms: Math.round(result.ms) }, `marts: PASS ${test.name}`);
    else
      options.logger?.[status === 'warn' ? 'warn' : 'error'](
        { test: test.name, file: test.file, failures, rows, error },
        describeFailure(result),
      );
  }
  const passed = tests.every((t) => t.status !== 'fail' && t.status !== 'error');
  return { tests, passed, ms: performance.now() - started };
}

/**
 * `FAIL <name>: N failing rows (file)` and the first rows, one JSON object a line; `ERROR <name>:
 * <Postgres' message> (file)` for a test whose SQL failed.
 */
export function describeFailure(t: DataTestResult): string {
  if (t.status === 'error') return `ERROR ${t.name}: ${t.error} (${t.file}): fix the test's SQL`;
  const head = `${t.status === 'fail' ? 'FAIL' : 'WARN'} ${t.name}: ${t.failures} failing row${t.failures === 1 ? '' : 's'} (${t.file})`;
  const shown = t.rows.map((r) => `  ${JSON.stringify(r)}`);
  const more = t.failures > t.rows.length ? [`  … and ${t.failures - t.rows.length} more`] : [];
  return [head, ...shown, ...more].join('\n');
}

function quote(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

/**
 * Migrations come in sets, one per Postgres schema: system A's serving tables (schema `public`,
 * where they have always been), and system B's `warehouse`, `marts` and `orchestration` as they
 * land. Each set is a folder of numbered SQL files with its own number line and its own ledger,
 * `<schema>.schema_migrations`, so a set is added or extended without touching the others.
 *
 * Every migration runs in one transaction with the set's schema first on the search path, under
 * an advisory lock per set (several processes starting at once apply each migration once).
 * Running it again changes nothing.
 */
import { readdir, readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import type pg from 'pg';
import { StoreFailedError } from '../errors.ts';
import { storeError } from './errors.ts';

export interface Migration {
  version: number;
  name: string;
  sql: string;
}

export interface MigrationSet {
  /** Names the set in logs and locks: `realtime`, `warehouse`, ... */
  name: string;
  /** The Postgres schema its tables live in, and where its ledger is. */
  schema: string;
  /** Folder of `NNN_name.sql` files. */
  dir: string;
}

const here = (dir: string) => fileURLToPath(new URL(`./migrations/${dir}/`, import.meta.url));

/** Every set rtsa knows, in the order they are applied (a later set may read an earlier one's tables). */
export const MIGRATION_SETS: readonly MigrationSet[] = [
  // System A's tables stay in `public`, with the ledger they always had: an existing data folder
  // upgrades with nothing to do.
  { name: 'realtime', schema: 'public', dir: here('realtime') },
  // System B's lake writers: positions and committed files (src/lakehouse/lake-writer).
  { name: 'lake', schema: 'lake', dir: here('lake') },
  // System B's star schema, loaded from silver (src/lakehouse/warehouse).
  { name: 'warehouse', schema: 'warehouse', dir: here('warehouse') },
  // System B's daily DAG: runs, tasks, attempts (src/lakehouse/orchestration). pg-boss keeps its
  // queues in schema `pgboss`, installed by pg-boss itself.
  { name: 'orchestration', schema: 'orchestration', dir: here('orchestration') },
  // `rtsa smoke`'s record of the purchases it sent, which it follows through the DAG (src/ops).
  { name: 'ops', schema: 'ops', dir: here('ops') },
];

export async function loadMigrations(set: MigrationSet = realtimeSet()): Promise<Migration[]> {
  const files = (await readdir(set.dir)).filter((f) => /^\d{3}_[\w-]+\.sql$/.test(f)).sort();
  return Promise.all(
    files.map(async (file) => ({
      version: Number(file.slice(0, 3)),
      name: file.slice(4, -4),
      sql: await readFile(`${set.dir}/${file}`, 'utf8'),
    })),
  );
}

function realtimeSet(): MigrationSet {
  return MIGRATION_SETS[0] as MigrationSet;
}

/** Applied versions per set, e.g. `{ realtime: [3] }` (empty lists when there was nothing to do). */
export type MigrationResult = Record<string, number[]>;

/**
 * Applies every set's pending migrations, set after set. `onNewer` hears of a set whose ledger
 * holds versions this rtsa does not know (a newer rtsa migrated the database).
 */
export async function migrate(
  pool: pg.Pool,
  sets: readonly MigrationSet[] = MIGRATION_SETS,
  onNewer?: (set: string, versions: number[]) => void,
): Promise<MigrationResult> {
  const result: MigrationResult = {};
  for (const set of sets) result[set.name] = await migrateSet(pool, set, undefined, onNewer);
  return result;
}

/**
 * Applies the migrations of one set not yet in its ledger, each in its own transaction. Returns
 * the versions it applied. `migrations` overrides the files (tests).
 */
export async function migrateSet(
  pool: pg.Pool,
  set: MigrationSet,
  migrations?: Migration[],
  onNewer?: (set: string, versions: number[]) => void,
): Promise<number[]> {
  const all = migrations ?? (await loadMigrations(set));
  const schema = quoteIdent(set.schema);
  const client = await pool.connect().catch((error: unknown) => {
    throw storeError(error, `migrations ${set.name}`);
  });
  const applied: number[] = [];
  const onError = () => {}; // a lost connection also fails the running query, which reports it
  client.on('error', onError);
  try {
    await client.query('SELECT pg_advisory_lock(hashtext($1))', [`rtsa.migrations.${set.name}`]);
    await client.query(`CREATE SCHEMA IF NOT EXISTS ${schema}`);
    await client.query(`CREATE TABLE IF NOT EXISTS ${schema}.schema_migrations (
      version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`);
    const { rows } = await client.query<{ version: number }>(
      `SELECT version FROM ${schema}.schema_migrations`,
    );
    const done = new Set(rows.map((r) => r.version));
    const known = new Set(all.map((m) => m.version));
    const newer = [...done].filter((v) => !known.has(v)).sort((a, b) => a - b);
    if (newer.length > 0) onNewer?.(set.name, newer);
    for (const m of all) {
      if (done.has(m.version)) continue;
      await client.query('BEGIN');
      try {
        await client.query(`SET LOCAL search_path TO ${schema}, public`);
        await client.query(m.sql);
        await client.query(`INSERT INTO ${schema}.schema_migrations (version, name) VALUES ($1, $2)`, [
          m.version,
          m.name,
        ]);
        await client.query('COMMIT');
        applied.push(m.version);
      } catch (error) {
        await client.query('ROLLBACK').catch(() => {});
        const typed = storeError(error, `migration ${set.name}/${m.version}_${m.name}`);
        if (typed.retriable) throw typed;
        throw new StoreFailedError(`migration ${set.name}/${m.version}_${m.name} failed: ${typed.message}`, {
          cause: error,
        });
      }
    }
  } catch (error) {
    throw storeError(error, `migrations ${set.name}`);
  } finally {
    await client
      .query('SELECT pg_advisory_unlock(hashtext($1))', [`rtsa.migrations.${set.name}`])
      .catch(() => {});
    client.off('error', onError);
    client.release();
  }
  return applied;
}

/** Applied and known versions of every set, for `rtsa doctor` and `rtsa migrate`. */
export async function migrationStatus(
  db: { query<R extends pg.QueryResultRow>(sql: string, params?: unknown[]): Promise<R[]> },
  sets: readonly MigrationSet[] = MIGRATION_SETS,
): Promise<{ set: string; schema: string; applied: number; known: number }[]> {
  const out = [];
  for (const set of sets) {
    const known = (await loadMigrations(set)).length;
    const exists = await db.query<{ t: string | null }>('SELECT to_regclass($1)::text AS t', [
      `${quoteIdent(set.schema)}.schema_migrations`,
    ]);
    const applied =
      exists[0]?.t == null
        ? 0
        : Number(
            (
              await db.query<{ n: number }>(
                `SELECT count(*)::int AS n FROM ${quoteIdent(set.schema)}.schema_migrations`,
              )
            )[0]?.n ?? 0,
          );
    out.push({ set: set.name, schema: set.schema, applied, known });
  }
  return out;
}

function quoteIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

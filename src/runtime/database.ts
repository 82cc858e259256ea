import type { Logger } from 'pino';
import type pg from 'pg';
import type { Config } from '../config/index.ts';
import { ConfigError, RtsaError, StoreUnavailableError } from '../errors.ts';
import { createPool, migrate, startEmbeddedPostgres } from '../db/index.ts';

export interface Database {
  pool: pg.Pool;
  /** Where the pool connects (for libraries that open their own connections, e.g. pg-boss). */
  url: string;
  embedded: boolean;
  close(): Promise<void>;
}

/**
 * Connects to DATABASE_URL, or starts the embedded Postgres in <data-dir>/postgres, then applies
 * the migrations (idempotent; concurrent starts serialise on an advisory lock).
 */
export async function openDatabase(config: Config, logger: Logger, poolSize = 10): Promise<Database> {
  let url = config.databaseUrl;
  let stopEmbedded = async () => {};
  if (url === undefined) {
    const handle = await startEmbeddedPostgres(config.dataDir, logger);
    url = handle.url;
    stopEmbedded = handle.stop;
  } else if (!/^postgres(ql)?:\/\//.test(url)) {
    throw new ConfigError(
      'DATABASE_URL must look like postgres://user:password@host:5432/db (or unset it for the embedded Postgres)',
    );
  }
  const pool = createPool(url, poolSize);
  try {
    const applied = await migrate(pool, undefined, (set, versions) =>
      logger.warn(
        { set, versions },
        `the database has ${set} migration(s) ${versions.join(', ')}, which this rtsa does not know: a newer rtsa ` +
          'migrated it. Run that version (an older one may not keep its new tables up to date)',
      ),
    );
    if (Object.values(applied).some((versions) => versions.length > 0))
      logger.info({ applied }, 'database migrated');
  } catch (error) {
    await pool.end().catch(() => {});
    await stopEmbedded().catch(() => {});
    throw databaseOpenError(error);
  }
  return {
    pool,
    url,
    embedded: config.databaseUrl === undefined,
    close: async () => {
      await pool.end().catch(() => {});
      await stopEmbedded();
    },
  };
}

/**
 * Why the database could not be prepared, said for what the user can do: a refused login, a
 * missing database or a missing right is a setting to fix (no retry helps); anything else may be
 * Postgres not running yet.
 */
function databaseOpenError(error: unknown): Error {
  const reason = (error as Error).message;
  const code = error instanceof RtsaError ? error.reason : undefined;
  const fix = code === undefined ? undefined : SETTING_FIXES[code];
  if (fix !== undefined)
    return new ConfigError(`cannot prepare the database: ${reason}: ${fix}`, { cause: error });
  const hint =
    code === '53300'
      ? 'Postgres has no free connection: raise max_connections or stop other clients, then start again'
      : 'Check DATABASE_URL and that Postgres is running';
  return new StoreUnavailableError(`cannot prepare the database: ${reason}. ${hint}.`, { cause: error });
}

/** What to fix for the Postgres errors (SQLSTATE) that no retry helps. */
const SETTING_FIXES: Record<string, string> = {
  '28P01': 'check the user and password in DATABASE_URL',
  '28000': 'check the user in DATABASE_URL and pg_hba.conf',
  '3D000': 'create it (createdb, owned by the role in DATABASE_URL) or fix the name in DATABASE_URL',
  '42501': "rtsa's role must own its database (or have CREATE on it) to apply its migrations",
};

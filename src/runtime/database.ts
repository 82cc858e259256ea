import type { Logger } from 'pino';
import type pg from 'pg';
import type { Config } from '../config/index.ts';
import { ConfigError, StoreUnavailableError } from '../errors.ts';
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
    const applied = await migrate(pool);
    if (Object.values(applied).some((versions) => versions.length > 0))
      logger.info({ applied }, 'database migrated');
  } catch (error) {
    await pool.end().catch(() => {});
    await stopEmbedded().catch(() => {});
    const reason = (error as Error).message;
    throw new StoreUnavailableError(
      `cannot prepare the database: ${reason}. Check DATABASE_URL and that Postgres is running.`,
      { cause: error },
    );
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

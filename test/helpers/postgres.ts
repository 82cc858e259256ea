/**
 * Test databases. `scripts/test.ts` starts one real Postgres (the embedded one users run) and a
 * template database built by our own migrations; each test clones the template into a database
 * of its own, so tests never see each other's rows.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { createPool } from '../../src/db/index.ts';

export const TEMPLATE_DB = 'rtsa_template';

export function serverUrl(database = 'postgres'): string {
  const base = process.env.RTSA_TEST_PG_URL;
  if (!base) {
    throw new Error(
      'RTSA_TEST_PG_URL is not set: run the tests with `npm test` (scripts/test.ts starts Postgres)',
    );
  }
  const url = new URL(base);
  url.pathname = `/${database}`;
  return url.toString();
}

export interface TestDatabase {
  name: string;
  url: string;
  pool: pg.Pool;
  drop(): Promise<void>;
}

/** A database of its own, cloned from the migrated template (or empty, with `empty`). */
export async function createTestDatabase(
  prefix = 't',
  options: { empty?: boolean } = {},
): Promise<TestDatabase> {
  const name = `${prefix}_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: serverUrl() });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${name} TEMPLATE ${options.empty ? 'template0' : TEMPLATE_DB}`);
  } finally {
    await admin.end();
  }
  const url = serverUrl(name);
  const pool = createPool(url, 5);
  return {
    name,
    url,
    pool,
    drop: async () => {
      await pool.end();
      const c = new pg.Client({ connectionString: serverUrl() });
      await c.connect();
      try {
        await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      } finally {
        await c.end();
      }
    },
  };
}

/** Whether a Postgres at `url` accepts a connection and a query within `timeoutMs`. */
export async function postgresAnswers(url: string, timeoutMs = 2_000): Promise<boolean> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: timeoutMs });
  client.on('error', () => {});
  try {
    await client.connect();
    await client.query('SELECT 1');
    return true;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => {});
  }
}

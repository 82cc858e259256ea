import pg from 'pg';
import { StoreUnavailableError } from '../errors.ts';
import { storeError } from './errors.ts';

// bigint columns (offsets, µs timestamps) fit in a double: read them as numbers, not strings.
pg.types.setTypeParser(pg.types.builtins.INT8, (v) => Number(v));

// `timestamp` (without time zone) and `date` columns hold UTC wall-clock times and days (the
// warehouse's, as the seed's DDL has them). node-pg reads them in the process's own zone (TZ), which
// shifted every such time by the local offset (a day read back under UTC+14 was the day before);
// read them as UTC, through the `timestamptz` parser, with `time` added to a date.
const parseTimestamptz = pg.types.getTypeParser(pg.types.builtins.TIMESTAMPTZ);
const asUtc = (v: string, time = '') =>
  v === 'infinity' || v === '-infinity'
    ? parseTimestamptz(v)
    : v.endsWith(' BC')
      ? parseTimestamptz(`${v.slice(0, -3)}${time}+00 BC`)
      : parseTimestamptz(`${v}${time}+00`);
pg.types.setTypeParser(pg.types.builtins.TIMESTAMP, (v: string) => asUtc(v));
pg.types.setTypeParser(pg.types.builtins.DATE, (v: string) => asUtc(v, ' 00:00:00'));

/** Settings every session of rtsa's starts with (see createPool). */
export const SESSION_OPTIONS =
  '-c TimeZone=UTC -c DateStyle=ISO,YMD -c IntervalStyle=postgres -c search_path=public';

/** How long a transaction may sit idle on the server before Postgres ends its session. */
export const IDLE_IN_TRANSACTION_TIMEOUT_MS = 10_000;

export function createPool(connectionString: string, max = 10): pg.Pool {
  const pool = new pg.Pool({
    connectionString,
    max,
    connectionTimeoutMillis: 5_000,
    idleTimeoutMillis: 30_000,
    // Our transactions never wait on the client between statements. One that does belongs to a
    // frozen or cut-off process (SIGSTOP, a long pause, a network partition): end it on the server
    // so its row locks do not block the processor that took its partitions over.
    idle_in_transaction_session_timeout: IDLE_IN_TRANSACTION_TIMEOUT_MS,
    // Every session the same whatever the server's or the role's own settings (the embedded
    // server has these already; a distributed one may not): UTC, so a timestamptz cast to a date or
    // truncated to a day means the UTC day; ISO dates, which the code and node-pg parse (a server
    // with DateStyle 'SQL, DMY' printed 27/11/2026); and the tables where the migrations put them
    // (a role's search_path without public, or with a schema of its own first, hid or shadowed them).
    options: SESSION_OPTIONS,
  });
  // An idle client losing its connection (database restart) must not crash the process.
  pool.on('error', () => {});
  return pool;
}

/** Anything that runs a read statement and returns its rows (a pool, or ops' bounded probe). */
export interface RowReader {
  query<R extends pg.QueryResultRow>(sql: string, params?: unknown[]): Promise<R[]>;
}

/**
 * A statement prepared once per connection under `name` and then only bound and executed: hot read
 * paths skip parsing and, once Postgres settles on a generic plan, planning.
 */
export interface NamedStatement {
  name: string;
  text: string;
}

/** One statement outside a transaction; failures come back typed (see errors.ts). */
export async function query<R extends pg.QueryResultRow = pg.QueryResultRow>(
  pool: pg.Pool,
  text: string | NamedStatement,
  values?: unknown[],
  what = 'query',
): Promise<pg.QueryResult<R>> {
  try {
    return typeof text === 'string'
      ? await pool.query<R>(text, values)
      : await pool.query<R>({ name: text.name, text: text.text, values: values ?? [] });
  } catch (error) {
    throw storeError(error, what);
  }
}

/**
 * Runs `fn` in a transaction on one client; rolls back on any error. Driver errors (from `fn`'s
 * statements too) come out as typed RtsaErrors; RtsaErrors thrown by `fn` pass through unchanged.
 */
export async function withTransaction<T>(
  pool: pg.Pool,
  fn: (client: pg.PoolClient) => Promise<T>,
  what = 'transaction',
): Promise<T> {
  let client: pg.PoolClient;
  try {
    client = await pool.connect();
  } catch (error) {
    throw new StoreUnavailableError(`${what}: cannot connect to Postgres: ${(error as Error).message}`, {
      cause: error,
    });
  }
  let broken = false;
  // While checked out, a lost connection is also emitted as 'error' on the client (the pool only
  // listens to idle ones); the failing query reports it, so this one must not crash the process.
  const onError = () => {
    broken = true;
  };
  client.on('error', onError);
  try {
    await client.query('BEGIN');
    const result = await fn(client);
    await client.query('COMMIT');
    return result;
  } catch (error) {
    const typed = storeError(error, what);
    broken = typed instanceof StoreUnavailableError;
    await client.query('ROLLBACK').catch(() => {
      broken = true;
    });
    throw typed;
  } finally {
    client.off('error', onError);
    client.release(broken);
  }
}

import pg from 'pg';
import { StoreUnavailableError } from '../errors.ts';

// bigint columns (offsets, µs timestamps) fit in a double: read them as numbers, not strings.
pg.types.setTypeParser(pg.types.builtins.INT8, (v) => Number(v));

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
  });
  // An idle client losing its connection (database restart) must not crash the process.
  pool.on('error', () => {});
  return pool;
}

const TRANSIENT = new Set([
  '25P03', // idle_in_transaction_session_timeout ended the session (this process was frozen)
  '57P01',
  '57P02',
  '57P03',
  '08000',
  '08003',
  '08006',
  '08001',
  '08004',
  '53300',
  '40001',
  '40P01',
]);

/** True for errors worth retrying: connection lost, server restarting, serialization failures. */
export function isTransientDbError(error: unknown): boolean {
  if (error instanceof StoreUnavailableError) return true;
  const e = error as { code?: string; message?: string } | undefined;
  if (e?.code && TRANSIENT.has(e.code)) return true;
  if (e?.code && /^(ECONNREFUSED|ECONNRESET|EPIPE|ETIMEDOUT|ENOTFOUND|EAI_AGAIN)$/.test(e.code)) return true;
  return /Connection terminated|connection timeout|timeout exceeded when trying to connect|Client has encountered a connection error/i.test(
    e?.message ?? '',
  );
}

/** Runs `fn` in a transaction on one client; rolls back on any error. */
export async function withTransaction<T>(
  pool: pg.Pool,
  fn: (client: pg.PoolClient) => Promise<T>,
): Promise<T> {
  let client: pg.PoolClient;
  try {
    client = await pool.connect();
  } catch (error) {
    throw new StoreUnavailableError(`cannot connect to Postgres: ${(error as Error).message}`, {
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
    broken = isTransientDbError(error);
    await client.query('ROLLBACK').catch(() => {
      broken = true;
    });
    throw error;
  } finally {
    client.off('error', onError);
    client.release(broken);
  }
}

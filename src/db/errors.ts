/**
 * The one place where Postgres driver errors become rtsa errors. Everything that leaves `db/`
 * (and every query made through it) fails with a typed RtsaError whose `retriable` flag says what
 * to do; no caller matches driver codes or messages.
 */
import {
  RtsaError,
  StoreConflictError,
  StoreFailedError,
  StoreRejectedError,
  StoreUnavailableError,
} from '../errors.ts';

/** SQLSTATEs of a server that is gone, going, or refusing connections for now. */
const UNAVAILABLE = new Set([
  '25P03', // idle_in_transaction_session_timeout ended the session (this process was frozen)
  '57P01', // admin shutdown
  '57P02', // crash shutdown
  '57P03', // cannot connect now (starting up)
  '57014', // statement cancelled (statement_timeout)
  '08000',
  '08001',
  '08003',
  '08004',
  '08006',
  '53300', // too many connections
  '53100', // disk full
  '53200', // out of memory
]);
const CONFLICT = new Set(['40001', '40P01']);
/** Socket-level failures raised by the driver before any SQLSTATE exists. */
const SOCKET_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'ENOTFOUND', 'EAI_AGAIN']);
/** node-postgres reports a lost or unobtainable connection with these messages and no code. */
const CONNECTION_LOST =
  /Connection terminated|connection timeout|timeout exceeded when trying to connect|Client has encountered a connection error|Client was closed|Cannot use a pool after calling end/i;

/** `error` as an RtsaError; `what` says what was being done ("commit", "read /metrics"). */
export function storeError(error: unknown, what: string): RtsaError {
  if (error instanceof RtsaError) return error;
  const e = error as { code?: unknown; message?: unknown } | undefined;
  const code = typeof e?.code === 'string' ? e.code : undefined;
  const message = typeof e?.message === 'string' ? e.message : String(error);
  const text = `${what}: ${message}`;
  const options = { cause: error, reason: code };
  if (code !== undefined && (UNAVAILABLE.has(code) || SOCKET_CODES.has(code)))
    return new StoreUnavailableError(text, options);
  if (code !== undefined && CONFLICT.has(code)) return new StoreConflictError(text, options);
  // Class 22 (data exception: out of range, bad encoding, ...), 23 (integrity constraint) and
  // 21000 ("ON CONFLICT DO UPDATE command cannot affect row a second time"): this data, again,
  // fails again.
  if (code !== undefined && (code.startsWith('22') || code.startsWith('23') || code === '21000'))
    return new StoreRejectedError(text, options);
  if (code === undefined && CONNECTION_LOST.test(message)) return new StoreUnavailableError(text, options);
  return new StoreFailedError(text, options);
}

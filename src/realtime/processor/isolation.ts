/**
 * Isolating a record that fails to commit (issue 11). The edge refuses everything known to be
 * unstorable; this is the net under it. When a commit fails on its *data* (not on the connection),
 * the records it covered, [durable offset, commit offset) of each partition, become a suspect range.
 * The processor restarts its source in-process (state rebuilt from Postgres and the log, as after a
 * crash) and commits the suspect range in halves; the failing half becomes the new range. A range of
 * one record that still fails is that record: it is quarantined (persisted with the database error)
 * and dead-lettered with reason `unstorable` on every replay. Never retried forever, never fatal.
 */
import { StoreRejectedError } from '../../errors.ts';

/**
 * An error caused by the values written, not by the database or the connection: the store refused
 * a value it cannot hold (src/db turns such driver errors into StoreRejectedError).
 */
export function isDataError(error: unknown): boolean {
  return error instanceof StoreRejectedError;
}

/** Offsets [from, to) of one partition holding at least one record that cannot be committed. */
export interface SuspectRange {
  from: number;
  to: number;
}

/**
 * Thrown out of the SourceHandler to end the current source: the processor role starts a new one,
 * which re-claims the partitions and rebuilds their state without the records being isolated.
 */
export class IsolationRestart extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'IsolationRestart';
  }
}

/** A record isolated for good: its offset and the database error its commit got. */
export interface QuarantinedRecord {
  offset: number;
  detail: string;
}

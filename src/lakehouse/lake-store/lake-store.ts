/**
 * Where the lake's files live: a local folder (the embedded default) or an S3-compatible bucket
 * (MinIO in the distributed mode). Keys are `/`-separated paths relative to the lake's root, the
 * same on both, so any engine that reads Hive-partitioned Parquet reads either as it is.
 *
 * Writers never put a file where readers look until it is committed: they `put` it under
 * `_staging/` (a folder no reader globs), commit, then `move` it into place. A move is atomic for
 * a reader on both stores: a local rename, and on S3 a server-side copy (an object appears whole
 * or not at all) followed by deleting the staged copy.
 */
export interface LakeStore {
  /** For logs and errors: the folder, or s3://bucket/prefix. */
  readonly location: string;
  /** Writes `bytes` at `key` durably (replacing what is there). */
  put(key: string, bytes: Uint8Array): Promise<void>;
  /** The bytes at `key`, or undefined when there is no such file. */
  get(key: string): Promise<Buffer | undefined>;
  exists(key: string): Promise<boolean>;
  /** Every key under `prefix` (a folder path ending in `/`, or '' for all), in no particular order. */
  list(prefix: string): Promise<string[]>;
  /**
   * Moves `from` to `to`. Resolves when `to` holds the file and `from` is gone. Moving a file that
   * is already in place (`from` missing, `to` present) succeeds: a recovery may repeat a move.
   */
  move(from: string, to: string): Promise<void>;
  /** Deletes the keys that exist; missing ones are not an error. */
  delete(keys: readonly string[]): Promise<void>;
  /**
   * Before a writer starts: makes sure the lake can be written (an S3 bucket that does not exist is
   * created), or throws an error that names the setting to fix.
   */
  prepare?(): Promise<void>;
  close(): Promise<void>;
}

/** Keys under this folder are work in progress, never read: `_` folders are hidden from Hive readers. */
export const STAGING_PREFIX = '_staging/';

/** A key must be a relative path of plain segments: no `..`, no empty or absolute parts. */
export function checkKey(key: string): string {
  if (
    key === '' ||
    key.startsWith('/') ||
    key.endsWith('/') ||
    key.split('/').some((s) => s === '' || s === '.' || s === '..')
  ) {
    throw new RangeError(`not a lake key: ${JSON.stringify(key)}`);
  }
  return key;
}

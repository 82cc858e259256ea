/**
 * Finds the embedded Postgres a running `rtsa start` serves from `<data-dir>/postgres`, without
 * starting one: the ops commands inspect a stack, they never bring up parts of it.
 *
 * The port comes from postmaster.pid (line 4, as Postgres writes it); the credentials are the
 * fixed loopback-only ones of src/store/embedded-postgres.ts.
 */
import { embeddedPostgresUrl } from '../db/embedded-postgres.ts';
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';

export type EmbeddedDatabase =
  | { state: 'running'; url: string; pid: number; port: number; dir: string }
  /** A data folder exists, but no server runs on it. */
  | { state: 'stopped'; dir: string }
  /** No embedded Postgres was ever created in this data folder. */
  | { state: 'absent'; dir: string };

export async function findEmbeddedDatabase(dataDir: string): Promise<EmbeddedDatabase> {
  const dir = path.resolve(dataDir, 'postgres');
  const exists = await stat(path.join(dir, 'PG_VERSION')).then(
    () => true,
    () => false,
  );
  if (!exists) return { state: 'absent', dir };
  let lines: string[];
  try {
    lines = (await readFile(path.join(dir, 'postmaster.pid'), 'utf8')).split('\n');
  } catch {
    return { state: 'stopped', dir };
  }
  const pid = Number(lines[0]);
  const port = Number(lines[3]);
  if (!Number.isInteger(pid) || pid <= 0 || !Number.isInteger(port) || port <= 0) {
    return { state: 'stopped', dir };
  }
  if (!isAlive(pid)) return { state: 'stopped', dir };
  return {
    state: 'running',
    url: embeddedPostgresUrl(port),
    pid,
    port,
    dir,
  };
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

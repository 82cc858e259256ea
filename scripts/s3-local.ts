/**
 * A real S3-compatible server for tests and CI, without Docker (the lake's distributed mode
 * writes to S3; MinIO plays that role under docker compose):
 *   npm run s3:local -- start [--port 19000]
 *   npm run s3:local -- stop [--port 19000]
 *   npm run s3:local -- status [--port 19000]
 *
 * `start` fetches s3proxy (one jar with its dependencies, org.gaul:s3proxy:4.1.0 from Maven
 * Central) once into <cache>/s3proxy-<version>/, and runs it on 127.0.0.1:<port>, detached, with
 * the `filesystem-nio2` backend in a fresh temp folder (buckets are folders), logging to
 * <cache>/s3-local-<port>.log. It returns once the server answers HTTP and prints
 *   RTSA_S3_ENDPOINT=http://127.0.0.1:<port>
 *   RTSA_S3_ACCESS_KEY_ID=…  RTSA_S3_SECRET_ACCESS_KEY=…  (one per line)
 * on stdout (everything else goes to stderr), so `export $(npm run -s s3:local -- start)` works.
 * Clients must use path-style addressing (`forcePathStyle: true`). `stop` ends that server and
 * deletes its data.
 *
 * Cache: $RTSA_CACHE_DIR, else $XDG_CACHE_HOME/rtsa, else ~/.cache/rtsa.
 * Exit codes: 0 ok; 1 failure; 2 bad usage; `status` exits 3 when the server is not running.
 */
import { spawn, spawnSync } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { createConnection } from 'node:net';
import { homedir, tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';

const S3PROXY_VERSION = '4.1.0';
const DEFAULT_PORT = 19000;
const DEPENDENCY_PLUGIN = 'org.apache.maven.plugins:maven-dependency-plugin:3.8.1';
const READY_TIMEOUT_MS = 60_000;
const STOP_TIMEOUT_MS = 10_000;
/** Test credentials of a loopback-only server: not secrets. */
const ACCESS_KEY_ID = 'rtsa-local';
const SECRET_ACCESS_KEY = 'rtsa-local-secret';

class UsageError extends Error {}

function say(message: string): void {
  process.stderr.write(`[s3-local] ${message}\n`);
}

function cacheDir(): string {
  if (process.env.RTSA_CACHE_DIR) return path.resolve(process.env.RTSA_CACHE_DIR);
  const xdg = process.env.XDG_CACHE_HOME;
  return path.join(xdg ? path.resolve(xdg) : path.join(homedir(), '.cache'), 'rtsa');
}

interface ServerState {
  pid: number;
  port: number;
  version: string;
  dataDir: string;
  logFile: string;
  startedAt: string;
}

const statePath = (port: number): string => path.join(cacheDir(), `s3-local-${port}.json`);
const logPath = (port: number): string => path.join(cacheDir(), `s3-local-${port}.log`);

/** One start/stop per port at a time; the lock of a dead holder is taken over. */
async function withLock<T>(port: number, fn: () => Promise<T>): Promise<T> {
  const lock = path.join(cacheDir(), `s3-local-${port}.lock`);
  await mkdir(path.dirname(lock), { recursive: true });
  const deadline = Date.now() + READY_TIMEOUT_MS + STOP_TIMEOUT_MS;
  for (;;) {
    try {
      await writeFile(lock, String(process.pid), { flag: 'wx' });
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      const holder = Number(await readFile(lock, 'utf8').catch(() => ''));
      if (!Number.isInteger(holder) || holder <= 0 || !isAlive(holder)) {
        await rm(lock, { force: true });
        continue;
      }
      if (Date.now() > deadline)
        throw new Error(`s3-local on port ${port} is busy (pid ${holder} holds ${lock})`);
      await sleep(200);
    }
  }
  try {
    return await fn();
  } finally {
    await rm(lock, { force: true });
  }
}

async function readState(port: number): Promise<ServerState | undefined> {
  try {
    return JSON.parse(await readFile(statePath(port), 'utf8')) as ServerState;
  } catch {
    return undefined;
  }
}

/** True when the pid is alive and is the server we started (pids get reused). */
function isOurServer(state: ServerState): boolean {
  try {
    const cmdline = readFileSync(`/proc/${state.pid}/cmdline`, 'utf8');
    return cmdline.includes('s3proxy') && cmdline.includes(state.dataDir);
  } catch {
    try {
      process.kill(state.pid, 0);
      return process.platform !== 'linux';
    } catch {
      return false;
    }
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function requireTool(command: string, args: string[], install: string): string {
  const result = spawnSync(command, args, { encoding: 'utf8' });
  if (result.error || result.status !== 0) {
    throw new Error(`\`${command}\` was not found or does not run: ${install}`);
  }
  return `${result.stdout}${result.stderr}`;
}

function checkJava(): void {
  const out = requireTool(
    'java',
    ['-version'],
    'install a Java 17+ runtime (e.g. `apt-get install openjdk-17-jre-headless`) and put `java` on PATH',
  );
  const match = /version "(\d+)(?:\.(\d+))?/.exec(out);
  const major = match ? Number(match[1] === '1' ? match[2] : match[1]) : 0;
  if (major < 17)
    throw new Error(`s3proxy ${S3PROXY_VERSION} needs Java 17 or newer, found: ${out.split('\n')[0]}`);
}

/** The s3proxy jar, downloaded from Maven Central on first use (one 55 MB jar). */
async function ensureJar(version: string): Promise<string> {
  const home = path.join(cacheDir(), `s3proxy-${version}`);
  const jar = path.join(home, `s3proxy-${version}-jar-with-dependencies.jar`);
  if (existsSync(jar)) return jar;
  requireTool(
    'mvn',
    ['-v'],
    'install Apache Maven 3.6+ (e.g. `apt-get install maven`) and put `mvn` on PATH',
  );
  say(`first use of s3proxy ${version}: fetching it from Maven Central into ${home}`);
  await mkdir(home, { recursive: true });
  const work = await mkdtemp(path.join(home, 'fetch-'));
  try {
    const result = spawnSync(
      'mvn',
      [
        '-B',
        '-q',
        `${DEPENDENCY_PLUGIN}:copy`,
        `-Dartifact=org.gaul:s3proxy:${version}:jar:jar-with-dependencies`,
        `-DoutputDirectory=${work}`,
      ],
      { cwd: work, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] },
    );
    const fetched = path.join(work, path.basename(jar));
    if (result.status !== 0 || !existsSync(fetched)) {
      throw new Error(
        `mvn could not fetch org.gaul:s3proxy:${version} (exit ${result.status}). Is Maven Central reachable ` +
          `(proxy settings in ~/.m2/settings.xml)?\n${`${result.stdout}${result.stderr}`.trim().split('\n').slice(-20).join('\n')}`,
      );
    }
    await rename(fetched, jar);
    say(`s3proxy ${version} cached`);
    return jar;
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

function properties(port: number, basedir: string): string {
  return `# s3proxy for rtsa tests (scripts/s3-local.ts). Loopback only; not for production.
s3proxy.endpoint=http://127.0.0.1:${port}
s3proxy.authorization=aws-v2-or-v4
s3proxy.identity=${ACCESS_KEY_ID}
s3proxy.credential=${SECRET_ACCESS_KEY}
jclouds.provider=filesystem-nio2
jclouds.filesystem.basedir=${basedir}
`;
}

function portInUse(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/** Any HTTP answer (an unsigned request gets 403) means the server is up. */
async function serverAnswers(port: number): Promise<boolean> {
  try {
    const response = await fetch(`http://127.0.0.1:${port}/`, { signal: AbortSignal.timeout(2_000) });
    await response.arrayBuffer();
    return response.status > 0;
  } catch {
    return false;
  }
}

function logTail(file: string, lines = 30): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

function printEnv(port: number): void {
  process.stdout.write(
    `RTSA_S3_ENDPOINT=http://127.0.0.1:${port}\nRTSA_S3_ACCESS_KEY_ID=${ACCESS_KEY_ID}\nRTSA_S3_SECRET_ACCESS_KEY=${SECRET_ACCESS_KEY}\n`,
  );
}

async function start(port: number): Promise<void> {
  const existing = await readState(port);
  if (existing && isOurServer(existing)) {
    say(`already running (pid ${existing.pid})`);
    printEnv(port);
    return;
  }
  if (existing) await cleanup(existing);
  if (await portInUse(port)) {
    throw new Error(
      `port ${port} on 127.0.0.1 is already in use by another program: stop it, or pick another port with --port`,
    );
  }
  checkJava();
  const jar = await ensureJar(S3PROXY_VERSION);
  const dataDir = await mkdtemp(path.join(tmpdir(), `rtsa-s3-${port}-`));
  const blobs = path.join(dataDir, 'blobs');
  await mkdir(blobs);
  const conf = path.join(dataDir, 's3proxy.conf');
  await writeFile(conf, properties(port, blobs));

  const logFile = logPath(port);
  await mkdir(path.dirname(logFile), { recursive: true });
  const fd = openSync(logFile, 'w');
  let pid: number | undefined;
  let exited: string | undefined;
  try {
    const child = spawn('java', ['-Xmx256m', '-jar', jar, '--properties', conf], {
      detached: true,
      stdio: ['ignore', fd, fd],
      env: { ...process.env, LOG_LEVEL: process.env.LOG_LEVEL ?? 'warn' },
    });
    child.once('exit', (code, signal) => {
      exited = signal ? `signal ${signal}` : `exit code ${code}`;
    });
    child.unref();
    pid = child.pid;
  } finally {
    closeSync(fd);
  }
  if (pid === undefined) throw new Error('could not start java');
  const state: ServerState = {
    pid,
    port,
    version: S3PROXY_VERSION,
    dataDir,
    logFile,
    startedAt: new Date().toISOString(),
  };
  await writeFile(statePath(port), `${JSON.stringify(state, null, 2)}\n`);
  say(
    `starting s3proxy ${S3PROXY_VERSION} (pid ${pid}) on 127.0.0.1:${port}, data in ${blobs}, log ${logFile}`,
  );

  const deadline = Date.now() + READY_TIMEOUT_MS;
  while (!(await serverAnswers(port))) {
    if (exited !== undefined) {
      await cleanup(state);
      throw new Error(`s3proxy stopped during start-up (${exited}); last log lines:\n${logTail(logFile)}`);
    }
    if (Date.now() > deadline) {
      await stopServer(state);
      throw new Error(
        `s3proxy did not answer within ${READY_TIMEOUT_MS / 1000} s; last log lines:\n${logTail(logFile)}`,
      );
    }
    await sleep(100);
  }
  say(`ready after ${((Date.now() - Date.parse(state.startedAt)) / 1000).toFixed(1)} s`);
  printEnv(port);
}

async function cleanup(state: ServerState): Promise<void> {
  await rm(state.dataDir, { recursive: true, force: true });
  await rm(statePath(state.port), { force: true });
}

/** SIGTERM, then SIGKILL after STOP_TIMEOUT_MS. */
async function terminate(pid: number): Promise<void> {
  process.kill(pid, 'SIGTERM');
  const deadline = Date.now() + STOP_TIMEOUT_MS;
  while (isAlive(pid) && Date.now() < deadline) await sleep(100);
  if (isAlive(pid)) {
    say(`pid ${pid} did not stop within ${STOP_TIMEOUT_MS / 1000} s: SIGKILL`);
    process.kill(pid, 'SIGKILL');
    while (isAlive(pid)) await sleep(50);
  }
}

async function stopServer(state: ServerState): Promise<void> {
  if (isOurServer(state)) await terminate(state.pid);
  await cleanup(state);
}

async function stop(port: number): Promise<void> {
  const state = await readState(port);
  if (!state) {
    say(`no server started by s3-local on port ${port}`);
    return;
  }
  const running = isOurServer(state);
  await stopServer(state);
  await rm(state.logFile, { force: true });
  say(running ? `stopped (pid ${state.pid}), data and log removed` : 'was not running; stale state removed');
}

async function status(port: number): Promise<number> {
  const state = await readState(port);
  if (!state || !isOurServer(state)) {
    say(`not running on port ${port}`);
    return 3;
  }
  const answers = await serverAnswers(port);
  say(
    `running: s3proxy ${state.version}, pid ${state.pid}, since ${state.startedAt}, data in ${state.dataDir}`,
  );
  printEnv(port);
  return answers ? 0 : 1;
}

async function main(): Promise<number> {
  const { values, positionals } = parseArgs({
    options: { port: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
    allowPositionals: true,
    strict: true,
  });
  const usage = 'usage: s3-local start|stop|status [--port 19000]';
  if (values.help) {
    process.stderr.write(`${usage}\n`);
    return 0;
  }
  const port = Number(values.port ?? process.env.RTSA_S3_PORT ?? DEFAULT_PORT);
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw new UsageError(`--port must be an integer from 1 to 65535, got "${values.port}"`);
  }
  const [command, ...extra] = positionals;
  if (extra.length > 0) throw new UsageError(`unexpected arguments: ${extra.join(' ')}\n${usage}`);
  switch (command) {
    case 'start':
      await withLock(port, () => start(port));
      return 0;
    case 'stop':
      await withLock(port, () => stop(port));
      return 0;
    case 'status':
      return status(port);
    default:
      throw new UsageError(usage);
  }
}

try {
  process.exitCode = await main();
} catch (error) {
  say(`error: ${error instanceof Error ? error.message : String(error)}`);
  process.exitCode =
    error instanceof UsageError || (error as { code?: string }).code?.startsWith('ERR_PARSE_ARGS') ? 2 : 1;
}

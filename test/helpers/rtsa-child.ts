/**
 * rtsa as a user runs it, in a child process: `spawnRtsa(['start', ...])`, `waitHealthy(url)`,
 * `child.stop()` (Ctrl-C) or `child.kill9()`, and `stopOrphanPostgres(dir)` for the embedded
 * Postgres a kill -9 leaves behind; `rtsaSandbox()` puts these together for a suite's own
 * `rtsa start`. One copy for every suite that starts rtsa.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { SETTINGS } from '../../src/config/index.ts';

const ROOT = path.resolve(import.meta.dirname, '../..');
const CLI = path.join(ROOT, 'src/cli/main.ts');

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const p = (srv.address() as { port: number }).port;
      srv.close(() => resolve(p));
    });
  });
}

/** The environment without any rtsa setting of the caller's shell (DATABASE_URL, KAFKA_BROKERS…). */
export function cleanEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: '1' };
  for (const spec of Object.values(SETTINGS)) delete env[spec.env];
  return { ...env, ...extra };
}

/** Waits for `fn` to give a value (not undefined, no throw) until the deadline; fails naming `what`. */
export async function until<T>(
  what: string,
  fn: () => Promise<T | undefined>,
  ms = 30_000,
  explain: () => string = () => '',
  intervalMs = 50,
): Promise<T> {
  const deadline = Date.now() + ms;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v !== undefined) return v;
    } catch (error) {
      last = error;
    }
    if (Date.now() >= deadline) {
      assert.fail(
        `timed out after ${ms} ms waiting for ${what}${last ? ` (last error: ${last})` : ''}\n${explain()}`,
      );
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/** Resolves with the exit code once `c` has exited (null after a signal). */
export function exitOf(c: ChildProcess): Promise<number | null> {
  return new Promise((resolve) => {
    if (c.exitCode !== null || c.signalCode !== null) resolve(c.exitCode);
    else c.once('exit', (code) => resolve(code));
  });
}

export interface RtsaChild {
  name: string;
  proc: ChildProcess;
  /** Everything it printed so far (output 'capture'). */
  output(): string;
  /** Its last output lines, for failure messages (output 'capture'). */
  tail(): string;
  /** SIGINT (Ctrl-C: rtsa stops cleanly), SIGKILL if it has not exited after `ms`. */
  stop(signal?: NodeJS.Signals, ms?: number): Promise<void>;
  /** kill -9, and wait for it to be gone. */
  kill9(): Promise<void>;
}

export interface SpawnOptions {
  /** Names it in failure messages. */
  name?: string;
  /** Default: cleanEnv(). */
  env?: NodeJS.ProcessEnv;
  /** 'inherit' shows its stderr in the test output; 'capture' keeps it for tail(). Default 'capture'. */
  output?: 'capture' | 'inherit' | 'ignore';
  /** Run this program instead of rtsa (Prometheus beside it, for example). */
  command?: string;
}

/** Starts `rtsa <args>` (or `options.command <args>`) from the repository root. */
export function spawnRtsa(args: readonly string[], options: SpawnOptions = {}): RtsaChild {
  const name = options.name ?? `rtsa ${args[0] ?? ''}`;
  const mode = options.output ?? 'capture';
  const stdio: ('ignore' | 'pipe' | 'inherit')[] =
    mode === 'capture'
      ? ['ignore', 'pipe', 'pipe']
      : mode === 'inherit'
        ? ['ignore', 'ignore', 'inherit']
        : ['ignore', 'ignore', 'ignore'];
  const proc =
    options.command === undefined
      ? spawn(process.execPath, [CLI, ...args], { cwd: ROOT, env: options.env ?? cleanEnv(), stdio })
      : spawn(options.command, [...args], { cwd: ROOT, env: options.env ?? cleanEnv(), stdio });
  let all = '';
  const lines: string[] = [];
  const keep = (chunk: Buffer) => {
    const text = chunk.toString('utf8');
    all += text;
    lines.push(...text.split('\n').filter(Boolean));
    if (lines.length > 40) lines.splice(0, lines.length - 40);
  };
  proc.stdout?.on('data', keep);
  proc.stderr?.on('data', keep);
  return {
    name,
    proc,
    output: () => all,
    tail: () => `--- last output of ${name} ---\n${lines.join('\n')}`,
    stop: async (signal = 'SIGINT', ms = 15_000) => {
      const done = exitOf(proc);
      proc.kill(signal);
      const timer = setTimeout(() => proc.kill('SIGKILL'), ms);
      await done;
      clearTimeout(timer);
    },
    kill9: async () => {
      proc.kill('SIGKILL');
      await exitOf(proc);
    },
  };
}

/** Runs `rtsa <args>` to its end; returns the exit code and what it printed (stdout and stderr). */
export async function runRtsa(
  args: readonly string[],
  options: Omit<SpawnOptions, 'output'> = {},
): Promise<{ code: number | null; out: string }> {
  const child = spawnRtsa(args, { ...options, output: 'capture' });
  const code = await exitOf(child.proc);
  return { code, out: child.output() };
}

/** Waits until GET `<base>/health` answers 200. */
export async function waitHealthy(base: string, ms = 60_000, explain?: () => string): Promise<void> {
  await until(
    `${base}/health to answer 200`,
    async () =>
      (await fetch(`${base}/health`, { signal: AbortSignal.timeout(2_000) })).ok ? true : undefined,
    ms,
    explain,
    100,
  );
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** The embedded Postgres of `dataDir`, by its pid file, when one is running. */
export async function postmasterPid(dataDir: string): Promise<number | undefined> {
  const text = await readFile(path.join(dataDir, 'postgres', 'postmaster.pid'), 'utf8').catch(() => '');
  const pid = Number(text.split('\n')[0]);
  return pid > 0 && alive(pid) ? pid : undefined;
}

/** A kill -9 of rtsa leaves its embedded Postgres running: stop it (fast shutdown) by its pid. */
export async function stopOrphanPostgres(dataDir: string): Promise<void> {
  const pid = await postmasterPid(dataDir);
  if (pid === undefined) return;
  try {
    process.kill(pid, 'SIGINT');
  } catch {
    return;
  }
  await until('the embedded Postgres to stop', async () => (alive(pid) ? undefined : true), 20_000).catch(
    () => {},
  );
}

/** A suite's own `rtsa start`: a fresh data folder and a free port, and what cleans them up. */
export interface RtsaSandbox {
  dir: string;
  port: number;
  /** `http://127.0.0.1:<port>` */
  base: string;
  /** Starts `rtsa start --data-dir <dir> --port <port> ...args` (again on the same data after a stop). */
  start(args?: readonly string[], options?: SpawnOptions): RtsaChild;
  /** kill -9 of what `start` started, then stops the embedded Postgres left behind and removes the folder. */
  remove(): Promise<void>;
}

/** Makes a sandbox (in `before`); `remove()` it in `after`. */
export async function rtsaSandbox(prefix = 'rtsa-'): Promise<RtsaSandbox> {
  const dir = await mkdtemp(path.join(tmpdir(), prefix));
  const port = await freePort();
  const started: RtsaChild[] = [];
  return {
    dir,
    port,
    base: `http://127.0.0.1:${port}`,
    start(args = [], options = {}) {
      const child = spawnRtsa(['start', '--data-dir', dir, '--port', String(port), ...args], options);
      started.push(child);
      return child;
    },
    async remove() {
      for (const child of started) await child.kill9();
      await stopOrphanPostgres(dir);
      await rm(dir, { recursive: true, force: true });
    },
  };
}

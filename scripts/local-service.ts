/**
 * What scripts/kafka-local.ts and scripts/s3-local.ts share: a Java server fetched once from Maven
 * Central into the cache, run on 127.0.0.1 detached with a state file (its pid, data folder and
 * log), waited for until it answers, stopped by that pid, and the `start|stop|status --port P`
 * command line around it (messages on stderr as `[<name>] …`, exit code 2 for bad usage).
 *
 * Cache: $RTSA_CACHE_DIR, else $XDG_CACHE_HOME/rtsa, else ~/.cache/rtsa. Per port it holds
 * <name>-<port>.json (the state), <name>-<port>.log and, during start/stop, <name>-<port>.lock.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createConnection } from 'node:net';
import { homedir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';

/** The Maven plugin (`copy`, `copy-dependencies`) that fetches jars from Maven Central. */
export const MAVEN_DEPENDENCY_PLUGIN = 'org.apache.maven.plugins:maven-dependency-plugin:3.8.1';

/** Bad command-line usage: the script exits with code 2. */
export class UsageError extends Error {}

export function cacheDir(): string {
  if (process.env.RTSA_CACHE_DIR) return path.resolve(process.env.RTSA_CACHE_DIR);
  const xdg = process.env.XDG_CACHE_HOME;
  return path.join(xdg ? path.resolve(xdg) : path.join(homedir(), '.cache'), 'rtsa');
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Runs `command args` (e.g. `java -version`) and returns its output, or throws `install` advice. */
export function requireTool(command: string, args: string[], install: string): string {
  const result = spawnSync(command, args, { encoding: 'utf8' });
  if (result.error || result.status !== 0) {
    throw new Error(`\`${command}\` was not found or does not run: ${install}`);
  }
  return `${result.stdout}${result.stderr}`;
}

/** Throws unless `java` on PATH is Java 17 or newer; `product` names what needs it. */
export function checkJava(product: string): void {
  const out = requireTool(
    'java',
    ['-version'],
    'install a Java 17+ runtime (e.g. `apt-get install openjdk-17-jre-headless`) and put `java` on PATH',
  );
  const match = /version "(\d+)(?:\.(\d+))?/.exec(out);
  const major = match ? Number(match[1] === '1' ? match[2] : match[1]) : 0;
  if (major < 17) {
    throw new Error(
      `${product} needs Java 17 or newer, found: ${out.split('\n')[0]}; install openjdk-17 or newer`,
    );
  }
}

export function portInUse(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

export function logTail(file: string, lines = 30): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

/** What the state file of a running service holds; a service may add fields. */
export interface ServiceState {
  pid: number;
  port: number;
  version: string;
  /** The service's own temp folder, removed on stop; also how its java command line is recognised. */
  dataDir: string;
  logFile: string;
  startedAt: string;
}

export interface LocalServiceOptions {
  /** The script's name: the prefix of its messages and of its files in the cache (`kafka-local`). */
  name: string;
  /** What it runs, in messages (`Kafka`, `s3proxy`). */
  product: string;
  /** What to call one running instance in messages (`broker`, `server`). */
  noun: string;
  /** A string in the java command line of our process (its main class or jar), besides dataDir. */
  commandMarker: string;
  /** Whether the service on `port` answers requests (it is up, not only listening). */
  answers(port: number): Promise<boolean>;
  readyTimeoutMs: number;
  /** How long SIGTERM may take before SIGKILL. */
  stopTimeoutMs: number;
  /** How often to ask `answers` during start-up. */
  pollMs: number;
}

export interface JavaLaunch {
  /** The arguments to `java`. */
  args: string[];
  /** The environment of java (default: this process's). */
  env?: NodeJS.ProcessEnv;
  /** 'w' starts a new log, 'a' appends (a restart on the same data). */
  logMode?: 'w' | 'a';
  /** Where the data is, for the start-up message (default: state.dataDir). */
  dataShown?: string;
}

/** One kind of local Java service, by port: its state files, lock, start-up and stop. */
export class LocalService<S extends ServiceState = ServiceState> {
  readonly options: LocalServiceOptions;

  constructor(options: LocalServiceOptions) {
    this.options = options;
  }

  say(message: string): void {
    process.stderr.write(`[${this.options.name}] ${message}\n`);
  }

  statePath(port: number): string {
    return path.join(cacheDir(), `${this.options.name}-${port}.json`);
  }

  logPath(port: number): string {
    return path.join(cacheDir(), `${this.options.name}-${port}.log`);
  }

  /**
   * One start/stop/restart per port at a time (two `start`s racing would launch two servers for
   * one state file). Waits for a live holder; takes over the lock of a dead one.
   */
  async withLock<T>(port: number, fn: () => Promise<T>): Promise<T> {
    const lock = path.join(cacheDir(), `${this.options.name}-${port}.lock`);
    await mkdir(path.dirname(lock), { recursive: true });
    const deadline = Date.now() + this.options.readyTimeoutMs + this.options.stopTimeoutMs;
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
          throw new Error(`${this.options.name} on port ${port} is busy (pid ${holder} holds ${lock})`);
        await sleep(200);
      }
    }
    try {
      return await fn();
    } finally {
      await rm(lock, { force: true });
    }
  }

  async readState(port: number): Promise<S | undefined> {
    try {
      return JSON.parse(await readFile(this.statePath(port), 'utf8')) as S;
    } catch {
      return undefined;
    }
  }

  /** True when the state's pid is alive and is the process we started (pids get reused). */
  isOurs(state: S): boolean {
    try {
      const cmdline = readFileSync(`/proc/${state.pid}/cmdline`, 'utf8');
      return cmdline.includes(this.options.commandMarker) && cmdline.includes(state.dataDir);
    } catch {
      // No /proc (macOS): fall back to "a process with this pid exists".
      try {
        process.kill(state.pid, 0);
        return process.platform !== 'linux';
      } catch {
        return false;
      }
    }
  }

  /** The state of the service we run on `port`, if it runs; otherwise removes any stale state. */
  async running(port: number): Promise<S | undefined> {
    const existing = await this.readState(port);
    if (existing && this.isOurs(existing)) return existing;
    if (existing) await this.cleanup(existing);
    return undefined;
  }

  async requireFreePorts(ports: number[]): Promise<void> {
    for (const p of ports) {
      if (await portInUse(p)) {
        throw new Error(
          `port ${p} on 127.0.0.1 is already in use by another program: stop it, or pick another port with --port`,
        );
      }
    }
  }

  /** Runs mvn, showing one line per downloaded jar; on failure throws with its last lines. */
  async runMaven(args: string[], cwd: string): Promise<void> {
    const child = spawn('mvn', ['-B', ...args], { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let count = 0;
    const tail: string[] = [];
    const onLine = (line: string): void => {
      tail.push(line);
      if (tail.length > 40) tail.shift();
      const done = /Downloaded from \S+: (\S+) \(([^)]+)\)/.exec(line);
      if (done?.[1]?.endsWith('.jar')) {
        count++;
        this.say(`  downloaded ${path.basename(done[1])} (${done[2]}) [${count}]`);
      }
    };
    let buffered = '';
    const feed = (chunk: Buffer): void => {
      buffered += chunk.toString('utf8');
      const lines = buffered.split('\n');
      buffered = lines.pop() ?? '';
      for (const line of lines) onLine(line);
    };
    child.stdout.on('data', feed);
    child.stderr.on('data', feed);
    const code: number = await new Promise((resolve, reject) => {
      child.on('error', reject);
      child.on('close', (c) => resolve(c ?? 1));
    });
    if (code !== 0) {
      const goal = args.find((a) => !a.startsWith('-'));
      throw new Error(
        `mvn ${goal} failed (exit ${code}). Is Maven Central reachable (proxy settings in ~/.m2/settings.xml)?\n${tail.join('\n')}`,
      );
    }
  }

  /**
   * The first fetch of something into `home` (a folder in the cache): checks that Maven runs, says
   * `announcement`, and gives `fetch` a scratch folder inside `home`, removed afterwards.
   */
  async fetchWithMaven<T>(
    home: string,
    announcement: string,
    fetch: (work: string) => Promise<T>,
  ): Promise<T> {
    requireTool(
      'mvn',
      ['-v'],
      'install Apache Maven 3.6+ (e.g. `apt-get install maven`) and put `mvn` on PATH',
    );
    this.say(announcement);
    await mkdir(home, { recursive: true });
    const work = await mkdtemp(path.join(home, 'fetch-'));
    try {
      return await fetch(work);
    } finally {
      await rm(work, { recursive: true, force: true });
    }
  }

  /**
   * Runs java detached on the state's data folder, logging to state.logFile, records its pid and
   * start time in `state` and the state file, and waits until the service answers.
   */
  async launch(state: S, java: JavaLaunch): Promise<void> {
    const { product, readyTimeoutMs } = this.options;
    const { port, dataDir, logFile } = state;
    await mkdir(path.dirname(logFile), { recursive: true });
    const fd = openSync(logFile, java.logMode ?? 'w');
    let child: ChildProcess;
    try {
      child = spawn('java', java.args, { detached: true, stdio: ['ignore', fd, fd], env: java.env });
    } finally {
      closeSync(fd);
    }
    const pid = child.pid;
    if (pid === undefined) throw new Error('could not start java');
    let exited: string | undefined;
    const onExit = (code: number | null, signal: NodeJS.Signals | null): void => {
      exited = signal ? `signal ${signal}` : `exit code ${code}`;
    };
    child.once('exit', onExit);
    child.unref();
    state.pid = pid;
    state.startedAt = new Date().toISOString();
    await writeFile(this.statePath(port), `${JSON.stringify(state, null, 2)}\n`);
    this.say(
      `starting ${product} ${state.version} (pid ${pid}) on 127.0.0.1:${port}, data in ${java.dataShown ?? dataDir}, log ${logFile}`,
    );

    const deadline = Date.now() + readyTimeoutMs;
    while (!(await this.options.answers(port))) {
      if (exited !== undefined) {
        await this.cleanup(state);
        throw new Error(
          `${product} stopped during start-up (${exited}); last log lines:\n${logTail(logFile)}`,
        );
      }
      if (Date.now() > deadline) {
        await this.stopProcess(state);
        throw new Error(
          `${product} did not answer within ${readyTimeoutMs / 1000} s; last log lines:\n${logTail(logFile)}`,
        );
      }
      await sleep(this.options.pollMs);
    }
    child.off('exit', onExit);
    this.say(`ready after ${((Date.now() - Date.parse(state.startedAt)) / 1000).toFixed(1)} s`);
  }

  /** Removes the data folder and the state file. */
  async cleanup(state: S): Promise<void> {
    await rm(state.dataDir, { recursive: true, force: true });
    await rm(this.statePath(state.port), { force: true });
  }

  /** SIGTERM (the service shuts down cleanly), then SIGKILL after stopTimeoutMs. */
  async terminate(pid: number): Promise<void> {
    const { stopTimeoutMs } = this.options;
    process.kill(pid, 'SIGTERM');
    const deadline = Date.now() + stopTimeoutMs;
    while (isAlive(pid) && Date.now() < deadline) await sleep(100);
    if (isAlive(pid)) {
      this.say(`pid ${pid} did not stop within ${stopTimeoutMs / 1000} s: SIGKILL`);
      process.kill(pid, 'SIGKILL');
      while (isAlive(pid)) await sleep(50);
    }
  }

  /** Ends our process, if it still runs, and removes its data and state. */
  async stopProcess(state: S): Promise<void> {
    if (this.isOurs(state)) await this.terminate(state.pid);
    await this.cleanup(state);
  }

  /** The `stop` command: ends the service on `port` and removes its data and log. */
  async stop(port: number): Promise<void> {
    const { name, noun } = this.options;
    const state = await this.readState(port);
    if (!state) {
      this.say(`no ${noun} started by ${name} on port ${port}`);
      return;
    }
    const running = this.isOurs(state);
    await this.stopProcess(state);
    await rm(state.logFile, { force: true });
    this.say(
      running ? `stopped (pid ${state.pid}), data and log removed` : 'was not running; stale state removed',
    );
  }

  /**
   * The `status` command: 3 when not running; otherwise `report`s and returns 0 when the service
   * answers, 1 when it does not.
   */
  async status(port: number, report: (state: S, answers: boolean) => void): Promise<number> {
    const state = await this.readState(port);
    if (!state || !this.isOurs(state)) {
      this.say(`not running on port ${port}`);
      return 3;
    }
    const answers = await this.options.answers(port);
    report(state, answers);
    return answers ? 0 : 1;
  }
}

export interface CommandLine {
  service: Pick<LocalService, 'say'>;
  usage: string;
  defaultPort: number;
  /** The environment variable that sets the port when --port is not given. */
  portEnv: string;
  maxPort: number;
  /** Names of further `--name value` options. */
  stringOptions?: string[];
  /**
   * The commands (`start`, `stop`, …) for a valid port and the option values; may throw
   * UsageError. A command resolves to its exit code, or to anything else (nothing) for 0.
   */
  commands(port: number, values: Record<string, string | undefined>): Record<string, () => Promise<unknown>>;
}

/** Parses process.argv as `<command> [--port P] [options]`, runs it and sets process.exitCode. */
export async function runCommandLine(cli: CommandLine): Promise<void> {
  try {
    process.exitCode = await parseAndRun(cli);
  } catch (error) {
    cli.service.say(`error: ${error instanceof Error ? error.message : String(error)}`);
    process.exitCode =
      error instanceof UsageError || (error as { code?: string }).code?.startsWith('ERR_PARSE_ARGS') ? 2 : 1;
  }
}

async function parseAndRun(cli: CommandLine): Promise<number> {
  const extra = Object.fromEntries(
    (cli.stringOptions ?? []).map((name) => [name, { type: 'string' } as const]),
  );
  const { values, positionals } = parseArgs({
    options: { ...extra, port: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
    allowPositionals: true,
    strict: true,
  });
  if (values.help) {
    process.stderr.write(`${cli.usage}\n`);
    return 0;
  }
  const port = Number(values.port ?? process.env[cli.portEnv] ?? cli.defaultPort);
  if (!Number.isInteger(port) || port < 1 || port > cli.maxPort) {
    throw new UsageError(`--port must be an integer from 1 to ${cli.maxPort}, got "${values.port}"`);
  }
  const commands = cli.commands(port, values as Record<string, string | undefined>);
  const [command, ...rest] = positionals;
  if (rest.length > 0) throw new UsageError(`unexpected arguments: ${rest.join(' ')}\n${cli.usage}`);
  const run = command !== undefined && Object.hasOwn(commands, command) ? commands[command] : undefined;
  if (!run) throw new UsageError(cli.usage);
  const code = await run();
  return typeof code === 'number' ? code : 0;
}

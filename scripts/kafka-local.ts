/**
 * A real Apache Kafka broker for tests and CI, without Docker:
 *   npm run kafka:local -- start [--port 19092] [--kafka-version 4.3.1]
 *   npm run kafka:local -- stop [--port 19092]
 *   npm run kafka:local -- status [--port 19092]
 *   npm run kafka:local -- restart [--port 19092]   (same data: for broker-restart tests)
 *
 * `start` fetches the broker jars once from Maven Central (`mvn dependency:copy-dependencies` of
 * org.apache.kafka:kafka_2.13) into <cache>/kafka-<version>/libs, formats a fresh KRaft storage
 * folder and runs one node as broker and controller on 127.0.0.1, detached, logging to
 * <cache>/kafka-local-<port>.log. It returns once the broker answers a metadata request and prints
 * `KAFKA_BROKERS=127.0.0.1:<port>` on stdout (everything else goes to stderr), so
 * `export $(npm run -s kafka:local -- start)` works. `stop` ends that broker and deletes its data.
 *
 * Cache: $RTSA_CACHE_DIR, else $XDG_CACHE_HOME/rtsa, else ~/.cache/rtsa.
 * Exit codes: 0 ok; 1 failure; 2 bad usage; `status` exits 3 when the broker is not running.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, existsSync, openSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { createConnection } from 'node:net';
import { homedir, tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { Admin } from '@platformatic/kafka';

/** The newest Kafka 4.x release fully published on Maven Central when this was written (4.4.0 was incomplete). */
const DEFAULT_KAFKA_VERSION = '4.3.1';
const DEFAULT_PORT = 19092;
const DEPENDENCY_PLUGIN = 'org.apache.maven.plugins:maven-dependency-plugin:3.8.1';
const READY_TIMEOUT_MS = 90_000;
const STOP_TIMEOUT_MS = 20_000;

class UsageError extends Error {}

function say(message: string): void {
  process.stderr.write(`[kafka-local] ${message}\n`);
}

function cacheDir(): string {
  if (process.env.RTSA_CACHE_DIR) return path.resolve(process.env.RTSA_CACHE_DIR);
  const xdg = process.env.XDG_CACHE_HOME;
  return path.join(xdg ? path.resolve(xdg) : path.join(homedir(), '.cache'), 'rtsa');
}

interface BrokerState {
  pid: number;
  port: number;
  controllerPort: number;
  version: string;
  dataDir: string;
  logFile: string;
  startedAt: string;
}

const statePath = (port: number): string => path.join(cacheDir(), `kafka-local-${port}.json`);
const logPath = (port: number): string => path.join(cacheDir(), `kafka-local-${port}.log`);

/**
 * One start/stop/restart per port at a time (two `start`s racing would launch two brokers for
 * one state file). Waits for a live holder; takes over the lock of a dead one.
 */
async function withLock<T>(port: number, fn: () => Promise<T>): Promise<T> {
  const lock = path.join(cacheDir(), `kafka-local-${port}.lock`);
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
        throw new Error(`kafka-local on port ${port} is busy (pid ${holder} holds ${lock})`);
      await sleep(250);
    }
  }
  try {
    return await fn();
  } finally {
    await rm(lock, { force: true });
  }
}

async function readState(port: number): Promise<BrokerState | undefined> {
  try {
    return JSON.parse(await readFile(statePath(port), 'utf8')) as BrokerState;
  } catch {
    return undefined;
  }
}

/** True when `pid` is alive and is the broker we started (pids get reused). */
function isOurBroker(state: BrokerState): boolean {
  try {
    const cmdline = readFileSync(`/proc/${state.pid}/cmdline`, 'utf8');
    return cmdline.includes('kafka.Kafka') && cmdline.includes(state.dataDir);
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
  if (major < 17) {
    throw new Error(
      `Kafka 4 needs Java 17 or newer, found: ${out.split('\n')[0]}; install openjdk-17 or newer`,
    );
  }
}

function pom(version: string): string {
  return `<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>rtsa.local</groupId>
  <artifactId>kafka-broker-fetch</artifactId>
  <version>1</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka_2.13</artifactId><version>${version}</version></dependency>
  </dependencies>
</project>
`;
}

/** Runs mvn, showing one line per downloaded artifact (the first run fetches ~45 MB). */
async function runMaven(args: string[], cwd: string): Promise<void> {
  const child = spawn('mvn', ['-B', ...args], { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  let count = 0;
  const tail: string[] = [];
  const onLine = (line: string): void => {
    tail.push(line);
    if (tail.length > 40) tail.shift();
    const done = /Downloaded from \S+: (\S+) \(([^)]+)\)/.exec(line);
    if (done?.[1]?.endsWith('.jar')) {
      count++;
      say(`  downloaded ${path.basename(done[1])} (${done[2]}) [${count}]`);
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
    throw new Error(
      `mvn ${args[0]} failed (exit ${code}). Is Maven Central reachable (proxy settings in ~/.m2/settings.xml)?\n${tail.join('\n')}`,
    );
  }
}

/** The broker's jars, downloaded on first use. */
async function ensureLibs(version: string): Promise<string> {
  const home = path.join(cacheDir(), `kafka-${version}`);
  const libs = path.join(home, 'libs');
  if (existsSync(path.join(libs, '.complete'))) return libs;

  requireTool(
    'mvn',
    ['-v'],
    'install Apache Maven 3.6+ (e.g. `apt-get install maven`) and put `mvn` on PATH',
  );
  say(`first use of Kafka ${version}: fetching the broker from Maven Central into ${libs}`);
  await mkdir(home, { recursive: true });
  const work = await mkdtemp(path.join(home, 'fetch-'));
  try {
    const out = path.join(work, 'libs');
    await writeFile(path.join(work, 'pom.xml'), pom(version));
    await runMaven(
      [`${DEPENDENCY_PLUGIN}:copy-dependencies`, '-DincludeScope=runtime', `-DoutputDirectory=${out}`],
      work,
    );
    // The broker logs through slf4j 1.x; without a binding every log line is dropped.
    const jars = await readdir(out);
    const log4j = jars.map((j) => /^log4j-core-(.+)\.jar$/.exec(j)?.[1]).find((v) => v !== undefined);
    if (log4j && !jars.some((j) => j.startsWith('log4j-slf4j'))) {
      await runMaven(
        [
          `${DEPENDENCY_PLUGIN}:copy`,
          `-Dartifact=org.apache.logging.log4j:log4j-slf4j-impl:${log4j}`,
          `-DoutputDirectory=${out}`,
        ],
        work,
      );
    }
    if (!(await readdir(out)).some((j) => j.startsWith(`kafka_2.13-${version}`))) {
      throw new Error(`Maven did not deliver kafka_2.13-${version}.jar into ${out}`);
    }
    await writeFile(path.join(out, '.complete'), `${new Date().toISOString()}\n`);
    try {
      await rename(out, libs);
    } catch (error) {
      // Another `start` finished the same download first: use theirs.
      if (!existsSync(path.join(libs, '.complete'))) throw error;
    }
    say(`Kafka ${version} cached (${(await readdir(libs)).length - 1} jars)`);
    return libs;
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

/** Kafka's StorageTool main class moved between releases: find it in the jars' zip directories. */
async function storageToolClass(libs: string): Promise<string> {
  const candidates = ['kafka.tools.StorageTool', 'org.apache.kafka.tools.StorageTool'];
  const jars = (await readdir(libs)).filter((j) => j.endsWith('.jar'));
  for (const main of candidates) {
    const entry = Buffer.from(`${main.replaceAll('.', '/')}.class`);
    for (const jar of jars) {
      if ((await readFile(path.join(libs, jar))).includes(entry)) return main;
    }
  }
  throw new Error(`no StorageTool main class found in ${libs} (tried ${candidates.join(', ')})`);
}

function serverProperties(port: number, controllerPort: number, logDirs: string): string {
  return `# Single-node KRaft broker for rtsa tests (scripts/kafka-local.ts). Not for production.
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:${controllerPort}
listeners=PLAINTEXT://127.0.0.1:${port},CONTROLLER://127.0.0.1:${controllerPort}
advertised.listeners=PLAINTEXT://127.0.0.1:${port}
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
log.dirs=${logDirs}
auto.create.topics.enable=false
num.partitions=1
default.replication.factor=1
min.insync.replicas=1
offsets.topic.replication.factor=1
offsets.topic.num.partitions=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
# Tests create and join many groups: do not wait 3 s for more members before the first rebalance.
group.initial.rebalance.delay.ms=0
# Let tests use short sessions (client default 60 s is below the broker default max of 30 min anyway).
group.min.session.timeout.ms=1000
num.network.threads=2
num.io.threads=4
log.retention.hours=24
`;
}

const LOG4J2 = `status = warn
appender.out.type = Console
appender.out.name = OUT
appender.out.layout.type = PatternLayout
appender.out.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.out.ref = OUT
logger.state.name = state.change.logger
logger.state.level = WARN
logger.request.name = kafka.request.logger
logger.request.level = WARN
`;

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

async function brokerAnswers(port: number): Promise<boolean> {
  const admin = new Admin({
    clientId: 'rtsa-kafka-local',
    bootstrapBrokers: [`127.0.0.1:${port}`],
    retries: 0,
    connectTimeout: 2000,
    timeout: 5000,
  });
  try {
    const metadata = await admin.metadata({ topics: [] });
    return metadata.brokers.size > 0;
  } catch {
    return false;
  } finally {
    await admin.close().catch(() => {});
  }
}

function logTail(file: string, lines = 30): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

async function start(port: number, version: string): Promise<void> {
  const existing = await readState(port);
  if (existing && isOurBroker(existing)) {
    say(`already running (pid ${existing.pid}, Kafka ${existing.version})`);
    process.stdout.write(`KAFKA_BROKERS=127.0.0.1:${port}\n`);
    return;
  }
  if (existing) await cleanup(existing);

  const controllerPort = port + 1;
  for (const p of [port, controllerPort]) {
    if (await portInUse(p)) {
      throw new Error(
        `port ${p} on 127.0.0.1 is already in use by another program: stop it, or pick another port with --port`,
      );
    }
  }
  checkJava();
  const libs = await ensureLibs(version);
  const storageTool = await storageToolClass(libs);

  const dataDir = await mkdtemp(path.join(tmpdir(), `rtsa-kafka-${port}-`));
  const logDirs = path.join(dataDir, 'logs');
  const properties = path.join(dataDir, 'server.properties');
  const log4j = path.join(dataDir, 'log4j2.properties');
  await writeFile(properties, serverProperties(port, controllerPort, logDirs));
  await writeFile(log4j, LOG4J2);

  // A Kafka cluster id: 16 random bytes, base64url; Kafka never issues one starting with '-'.
  let clusterId = randomBytes(16).toString('base64url');
  while (clusterId.startsWith('-')) clusterId = randomBytes(16).toString('base64url');
  const jvmLog = [`-Dlog4j2.configurationFile=${log4j}`];
  const format = spawnSync(
    'java',
    ['-cp', `${libs}/*`, ...jvmLog, storageTool, 'format', '-t', clusterId, '-c', properties],
    { encoding: 'utf8' },
  );
  if (format.status !== 0) {
    await rm(dataDir, { recursive: true, force: true });
    throw new Error(`formatting the KRaft storage failed:\n${format.stdout}${format.stderr}`);
  }

  const state: BrokerState = {
    pid: 0,
    port,
    controllerPort,
    version,
    dataDir,
    logFile: logPath(port),
    startedAt: '',
  };
  await launch(state, libs, 'w');
  process.stdout.write(`KAFKA_BROKERS=127.0.0.1:${port}\n`);
}

/** Runs the broker on an already formatted data folder, detached, and waits until it answers. */
async function launch(state: BrokerState, libs: string, logMode: 'w' | 'a'): Promise<void> {
  const { port, dataDir, logFile } = state;
  await mkdir(path.dirname(logFile), { recursive: true });
  const fd = openSync(logFile, logMode);
  let child: ChildProcess;
  try {
    child = spawn(
      'java',
      [
        '-Xms256m',
        '-Xmx768m',
        '-XX:+UseG1GC',
        '-XX:MaxGCPauseMillis=20',
        '-Djava.awt.headless=true',
        `-Dlog4j2.configurationFile=${path.join(dataDir, 'log4j2.properties')}`,
        '-cp',
        `${libs}/*`,
        'kafka.Kafka',
        path.join(dataDir, 'server.properties'),
      ],
      { detached: true, stdio: ['ignore', fd, fd] },
    );
  } finally {
    closeSync(fd);
  }
  const pid = child.pid;
  if (pid === undefined) throw new Error('could not start java');
  let exited: string | undefined;
  child.once('exit', (code, signal) => {
    exited = signal ? `signal ${signal}` : `exit code ${code}`;
  });
  child.unref();
  state.pid = pid;
  state.startedAt = new Date().toISOString();
  await writeFile(statePath(port), `${JSON.stringify(state, null, 2)}\n`);
  say(
    `starting Kafka ${state.version} (pid ${pid}) on 127.0.0.1:${port}, data in ${dataDir}, log ${logFile}`,
  );

  const deadline = Date.now() + READY_TIMEOUT_MS;
  while (!(await brokerAnswers(port))) {
    if (exited !== undefined) {
      await cleanup(state);
      throw new Error(`the broker stopped during start-up (${exited}); last log lines:\n${logTail(logFile)}`);
    }
    if (Date.now() > deadline) {
      await stopBroker(state);
      throw new Error(
        `the broker did not answer within ${READY_TIMEOUT_MS / 1000} s; last log lines:\n${logTail(logFile)}`,
      );
    }
    await sleep(250);
  }
  child.removeAllListeners('exit');
  say(`ready after ${((Date.now() - Date.parse(state.startedAt)) / 1000).toFixed(1)} s`);
}

/** Stops the broker and starts it again on the same data: for tests of a broker restart mid-run. */
async function restart(port: number): Promise<void> {
  const state = await readState(port);
  if (!state || !existsSync(path.join(state.dataDir, 'server.properties'))) {
    throw new Error(`no broker started by kafka-local on port ${port}: use start`);
  }
  if (isOurBroker(state)) await terminate(state.pid);
  const libs = await ensureLibs(state.version);
  await launch(state, libs, 'a');
  process.stdout.write(`KAFKA_BROKERS=127.0.0.1:${port}\n`);
}

async function cleanup(state: BrokerState): Promise<void> {
  await rm(state.dataDir, { recursive: true, force: true });
  await rm(statePath(state.port), { force: true });
}

/** SIGTERM (Kafka shuts down cleanly), then SIGKILL after STOP_TIMEOUT_MS. */
async function terminate(pid: number): Promise<void> {
  process.kill(pid, 'SIGTERM');
  const deadline = Date.now() + STOP_TIMEOUT_MS;
  while (isAlive(pid) && Date.now() < deadline) await sleep(200);
  if (isAlive(pid)) {
    say(`pid ${pid} did not stop within ${STOP_TIMEOUT_MS / 1000} s: SIGKILL`);
    process.kill(pid, 'SIGKILL');
    while (isAlive(pid)) await sleep(100);
  }
}

async function stopBroker(state: BrokerState): Promise<void> {
  if (isOurBroker(state)) await terminate(state.pid);
  await cleanup(state);
}

async function stop(port: number): Promise<void> {
  const state = await readState(port);
  if (!state) {
    say(`no broker started by kafka-local on port ${port}`);
    return;
  }
  const running = isOurBroker(state);
  await stopBroker(state);
  await rm(state.logFile, { force: true });
  say(running ? `stopped (pid ${state.pid}), data and log removed` : 'was not running; stale state removed');
}

async function status(port: number): Promise<number> {
  const state = await readState(port);
  if (!state || !isOurBroker(state)) {
    say(`not running on port ${port}`);
    return 3;
  }
  const answers = await brokerAnswers(port);
  say(
    `running: Kafka ${state.version}, pid ${state.pid}, since ${state.startedAt}, ${answers ? 'answering' : 'NOT answering'}; log ${state.logFile}`,
  );
  process.stdout.write(`KAFKA_BROKERS=127.0.0.1:${port}\n`);
  return answers ? 0 : 1;
}

async function main(): Promise<number> {
  const { values, positionals } = parseArgs({
    options: {
      port: { type: 'string' },
      'kafka-version': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    allowPositionals: true,
    strict: true,
  });
  const usage = 'usage: kafka-local start|stop|status|restart [--port 19092] [--kafka-version X.Y.Z]';
  if (values.help) {
    process.stderr.write(`${usage}\n`);
    return 0;
  }
  const port = Number(values.port ?? process.env.RTSA_KAFKA_PORT ?? DEFAULT_PORT);
  if (!Number.isInteger(port) || port < 1 || port > 65534) {
    throw new UsageError(`--port must be an integer from 1 to 65534, got "${values.port}"`);
  }
  const version = values['kafka-version'] ?? process.env.RTSA_KAFKA_VERSION ?? DEFAULT_KAFKA_VERSION;
  if (!/^4\.\d+\.\d+$/.test(version)) {
    throw new UsageError(
      `--kafka-version must be a Kafka 4.x release like ${DEFAULT_KAFKA_VERSION}, got "${version}"`,
    );
  }
  const [command, ...extra] = positionals;
  if (extra.length > 0) throw new UsageError(`unexpected arguments: ${extra.join(' ')}\n${usage}`);
  switch (command) {
    case 'start':
      await withLock(port, () => start(port, version));
      return 0;
    case 'stop':
      await withLock(port, () => stop(port));
      return 0;
    case 'status':
      return status(port);
    case 'restart':
      await withLock(port, () => restart(port));
      return 0;
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

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
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Admin } from '@platformatic/kafka';
import {
  cacheDir,
  checkJava,
  LocalService,
  MAVEN_DEPENDENCY_PLUGIN,
  runCommandLine,
  type ServiceState,
  UsageError,
} from './local-service.ts';

/** The newest Kafka 4.x release fully published on Maven Central when this was written (4.4.0 was incomplete). */
const DEFAULT_KAFKA_VERSION = '4.3.1';
const DEFAULT_PORT = 19092;
const READY_TIMEOUT_MS = 90_000;
const STOP_TIMEOUT_MS = 20_000;

interface BrokerState extends ServiceState {
  controllerPort: number;
}

const service = new LocalService<BrokerState>({
  name: 'kafka-local',
  product: 'Kafka',
  noun: 'broker',
  commandMarker: 'kafka.Kafka',
  answers: brokerAnswers,
  readyTimeoutMs: READY_TIMEOUT_MS,
  stopTimeoutMs: STOP_TIMEOUT_MS,
  pollMs: 250,
});

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

/** The broker's jars, downloaded on first use. */
async function ensureLibs(version: string): Promise<string> {
  const home = path.join(cacheDir(), `kafka-${version}`);
  const libs = path.join(home, 'libs');
  if (existsSync(path.join(libs, '.complete'))) return libs;

  const announcement = `first use of Kafka ${version}: fetching the broker from Maven Central into ${libs}`;
  return service.fetchWithMaven(home, announcement, async (work) => {
    const out = path.join(work, 'libs');
    await writeFile(path.join(work, 'pom.xml'), pom(version));
    await service.runMaven(
      [`${MAVEN_DEPENDENCY_PLUGIN}:copy-dependencies`, '-DincludeScope=runtime', `-DoutputDirectory=${out}`],
      work,
    );
    // The broker logs through slf4j 1.x; without a binding every log line is dropped.
    const jars = await readdir(out);
    const log4j = jars.map((j) => /^log4j-core-(.+)\.jar$/.exec(j)?.[1]).find((v) => v !== undefined);
    if (log4j && !jars.some((j) => j.startsWith('log4j-slf4j'))) {
      await service.runMaven(
        [
          `${MAVEN_DEPENDENCY_PLUGIN}:copy`,
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
    service.say(`Kafka ${version} cached (${(await readdir(libs)).length - 1} jars)`);
    return libs;
  });
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

async function start(port: number, version: string): Promise<void> {
  const existing = await service.running(port);
  if (existing) {
    service.say(`already running (pid ${existing.pid}, Kafka ${existing.version})`);
    process.stdout.write(`KAFKA_BROKERS=127.0.0.1:${port}\n`);
    return;
  }
  const controllerPort = port + 1;
  await service.requireFreePorts([port, controllerPort]);
  checkJava('Kafka 4');
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
    logFile: service.logPath(port),
    startedAt: '',
  };
  await launch(state, libs, 'w');
  process.stdout.write(`KAFKA_BROKERS=127.0.0.1:${port}\n`);
}

/** Runs the broker on an already formatted data folder, detached, and waits until it answers. */
function launch(state: BrokerState, libs: string, logMode: 'w' | 'a'): Promise<void> {
  const { dataDir } = state;
  const args = [
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
  ];
  return service.launch(state, { args, logMode });
}

/** Stops the broker and starts it again on the same data: for tests of a broker restart mid-run. */
async function restart(port: number): Promise<void> {
  const state = await service.readState(port);
  if (!state || !existsSync(path.join(state.dataDir, 'server.properties'))) {
    throw new Error(`no broker started by kafka-local on port ${port}: use start`);
  }
  if (service.isOurs(state)) await service.terminate(state.pid);
  const libs = await ensureLibs(state.version);
  await launch(state, libs, 'a');
  process.stdout.write(`KAFKA_BROKERS=127.0.0.1:${port}\n`);
}

function status(port: number): Promise<number> {
  return service.status(port, (state, answers) => {
    service.say(
      `running: Kafka ${state.version}, pid ${state.pid}, since ${state.startedAt}, ${answers ? 'answering' : 'NOT answering'}; log ${state.logFile}`,
    );
    process.stdout.write(`KAFKA_BROKERS=127.0.0.1:${port}\n`);
  });
}

await runCommandLine({
  service,
  usage: 'usage: kafka-local start|stop|status|restart [--port 19092] [--kafka-version X.Y.Z]',
  defaultPort: DEFAULT_PORT,
  portEnv: 'RTSA_KAFKA_PORT',
  // The controller listens on port + 1.
  maxPort: 65534,
  stringOptions: ['kafka-version'],
  commands(port, values) {
    const version = values['kafka-version'] ?? process.env.RTSA_KAFKA_VERSION ?? DEFAULT_KAFKA_VERSION;
    if (!/^4\.\d+\.\d+$/.test(version)) {
      throw new UsageError(
        `--kafka-version must be a Kafka 4.x release like ${DEFAULT_KAFKA_VERSION}, got "${version}"`,
      );
    }
    return {
      start: () => service.withLock(port, () => start(port, version)),
      stop: () => service.withLock(port, () => service.stop(port)),
      status: () => status(port),
      restart: () => service.withLock(port, () => restart(port)),
    };
  },
});

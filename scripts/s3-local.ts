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
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rename, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import {
  cacheDir,
  checkJava,
  LocalService,
  MAVEN_DEPENDENCY_PLUGIN,
  runCommandLine,
} from './local-service.ts';

const S3PROXY_VERSION = '4.1.0';
const DEFAULT_PORT = 19000;
/** Test credentials of a loopback-only server: not secrets. */
const ACCESS_KEY_ID = 'rtsa-local';
const SECRET_ACCESS_KEY = 'rtsa-local-secret';

const service = new LocalService({
  name: 's3-local',
  product: 's3proxy',
  noun: 'server',
  commandMarker: 's3proxy',
  answers: serverAnswers,
  readyTimeoutMs: 60_000,
  stopTimeoutMs: 10_000,
  pollMs: 100,
});

/** The s3proxy jar, downloaded from Maven Central on first use (one 55 MB jar). */
async function ensureJar(version: string): Promise<string> {
  const home = path.join(cacheDir(), `s3proxy-${version}`);
  const jar = path.join(home, `s3proxy-${version}-jar-with-dependencies.jar`);
  if (existsSync(jar)) return jar;
  const announcement = `first use of s3proxy ${version}: fetching it from Maven Central into ${home}`;
  return service.fetchWithMaven(home, announcement, async (work) => {
    await service.runMaven(
      [
        '-q',
        `${MAVEN_DEPENDENCY_PLUGIN}:copy`,
        `-Dartifact=org.gaul:s3proxy:${version}:jar:jar-with-dependencies`,
        `-DoutputDirectory=${work}`,
      ],
      work,
    );
    const fetched = path.join(work, path.basename(jar));
    if (!existsSync(fetched)) throw new Error(`Maven did not deliver ${path.basename(jar)} into ${work}`);
    await rename(fetched, jar);
    service.say(`s3proxy ${version} cached`);
    return jar;
  });
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

function printEnv(port: number): void {
  process.stdout.write(
    `RTSA_S3_ENDPOINT=http://127.0.0.1:${port}\nRTSA_S3_ACCESS_KEY_ID=${ACCESS_KEY_ID}\nRTSA_S3_SECRET_ACCESS_KEY=${SECRET_ACCESS_KEY}\n`,
  );
}

async function start(port: number): Promise<void> {
  const existing = await service.running(port);
  if (existing) {
    service.say(`already running (pid ${existing.pid})`);
    printEnv(port);
    return;
  }
  await service.requireFreePorts([port]);
  checkJava(`s3proxy ${S3PROXY_VERSION}`);
  const jar = await ensureJar(S3PROXY_VERSION);
  const dataDir = await mkdtemp(path.join(tmpdir(), `rtsa-s3-${port}-`));
  const blobs = path.join(dataDir, 'blobs');
  await mkdir(blobs);
  const conf = path.join(dataDir, 's3proxy.conf');
  await writeFile(conf, properties(port, blobs));

  const state = {
    pid: 0,
    port,
    version: S3PROXY_VERSION,
    dataDir,
    logFile: service.logPath(port),
    startedAt: '',
  };
  await service.launch(state, {
    args: ['-Xmx256m', '-jar', jar, '--properties', conf],
    env: { ...process.env, LOG_LEVEL: process.env.LOG_LEVEL ?? 'warn' },
    dataShown: blobs,
  });
  printEnv(port);
}

function status(port: number): Promise<number> {
  return service.status(port, (state) => {
    service.say(
      `running: s3proxy ${state.version}, pid ${state.pid}, since ${state.startedAt}, data in ${state.dataDir}`,
    );
    printEnv(port);
  });
}

await runCommandLine({
  service,
  usage: 'usage: s3-local start|stop|status [--port 19000]',
  defaultPort: DEFAULT_PORT,
  portEnv: 'RTSA_S3_PORT',
  maxPort: 65535,
  commands: (port) => ({
    start: () => service.withLock(port, () => start(port)),
    stop: () => service.withLock(port, () => service.stop(port)),
    status: () => status(port),
  }),
});

/**
 * Test runner: starts one real Postgres (the embedded server users run, in a temp folder), builds
 * the template database with our migrations, then runs node's test runner on a suite:
 *   unit  — everything under test/ except the slow suites (the default, what `npm test` runs)
 *   crash — kill -9 crash tests against the batch oracle
 *   fuzz  — property-based hostile input against the real pipeline (test/fuzz, about a minute)
 *   kafka — suites that need a real Kafka broker (KAFKA_BROKERS)
 *   dbt   — the marts built by real dbt equal rtsa's runner's (needs dbt: scripts/dbt-equivalence.sh)
 * Extra arguments ending in .test.ts pick files; others go to `node --test` (e.g. --test-name-pattern).
 */
import { spawn } from 'node:child_process';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { silentLogger } from '../src/telemetry/logger.ts';
import {
  hasBinary,
  missingMessage,
  s3Unavailable,
  REQUIRE_SYSTEM_TESTS,
  SYSTEM_BINARIES,
  type SystemBinaryName,
} from '../test/helpers/system-binaries.ts';
import { createPool, migrate, startEmbeddedPostgres } from '../src/db/index.ts';

const SUITES: Record<string, (file: string) => boolean> = {
  unit: (f) => !/^test\/(crash|kafka|bench|fuzz|dbt)\//.test(f),
  crash: (f) => f.startsWith('test/crash/'),
  fuzz: (f) => f.startsWith('test/fuzz/'),
  kafka: (f) => f.startsWith('test/kafka/'),
  dbt: (f) => f.startsWith('test/dbt/'),
};

const [suite = 'unit', ...rest] = process.argv.slice(2);
const select = SUITES[suite];
if (!select) {
  console.error(`unknown suite "${suite}": use one of ${Object.keys(SUITES).join(', ')}`);
  process.exit(2);
}

async function listTests(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const full = `${dir}/${entry.name}`;
    if (entry.isDirectory()) out.push(...(await listTests(full)));
    else if (entry.name.endsWith('.test.ts')) out.push(full);
  }
  return out;
}

const explicit = rest.filter((a) => a.endsWith('.test.ts'));
const nodeArgs = rest.filter((a) => !a.endsWith('.test.ts'));
const files = explicit.length > 0 ? explicit : (await listTests('test')).filter(select).sort();
if (files.length === 0) {
  console.error(`no test files in suite ${suite}`);
  process.exit(1);
}

// Tests that need a program npm cannot bring say so once, here, and are skipped (or fail under
// RTSA_REQUIRE_SYSTEM_TESTS=1, as in CI).
for (const name of Object.keys(SYSTEM_BINARIES) as SystemBinaryName[]) {
  if (hasBinary(name)) continue;
  console.log(
    REQUIRE_SYSTEM_TESTS
      ? `RTSA_REQUIRE_SYSTEM_TESTS=1 and ${name} is missing: its tests will fail (${missingMessage(name)})`
      : `skipped: the tests that ${missingMessage(name).replace(/^needs/, 'need')}`,
  );
}

const s3 = s3Unavailable();
if (s3 !== undefined) console.log(`skipped: the S3 tests ${s3.replace(/^needs/, 'need')}`);

let stopPostgres = async () => {};
let dataDir: string | undefined;
if (!process.env.RTSA_TEST_PG_URL) {
  dataDir = await mkdtemp(path.join(tmpdir(), 'rtsa-test-pg-'));
  const handle = await startEmbeddedPostgres(dataDir, silentLogger());
  process.env.RTSA_TEST_PG_URL = handle.url;
  stopPostgres = handle.stop;
}

const admin = new pg.Client({ connectionString: process.env.RTSA_TEST_PG_URL });
await admin.connect();
await admin.query('DROP DATABASE IF EXISTS rtsa_template WITH (FORCE)');
await admin.query('CREATE DATABASE rtsa_template');
await admin.end();
const templateUrl = new URL(process.env.RTSA_TEST_PG_URL);
templateUrl.pathname = '/rtsa_template';
const pool = createPool(templateUrl.toString(), 1);
await migrate(pool);
await pool.end();

// Only the Kafka suite talks to Kafka: elsewhere a KAFKA_BROKERS left in the environment (CI
// exports it for that suite) would silently switch the rtsa processes the tests start to Kafka.
if (suite !== 'kafka') delete process.env.KAFKA_BROKERS;

const concurrency = suite === 'unit' || suite === 'fuzz' ? '2' : '1';
const child = spawn(
  process.execPath,
  ['--test', `--test-concurrency=${concurrency}`, ...nodeArgs, ...files],
  {
    stdio: 'inherit',
    env: process.env,
  },
);
const code: number = await new Promise((resolve) =>
  child.on('exit', (c, signal) => resolve(c ?? (signal ? 1 : 0))),
);
await stopPostgres().catch(() => {});
if (dataDir) await rm(dataDir, { recursive: true, force: true });
process.exit(code);

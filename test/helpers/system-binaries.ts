/**
 * Tests that need a program npm cannot bring (Chromium for the dashboard in a browser, Prometheus
 * for the observability checks, Java for the S3 server of the lake tests). Without it they are skipped with one line naming what to
 * install; with RTSA_REQUIRE_SYSTEM_TESTS=1 (set by .ci/run) nothing is skipped, so a missing
 * binary fails the test with the same message instead.
 */
import { spawnSync } from 'node:child_process';
import { accessSync, constants, existsSync } from 'node:fs';
import { homedir } from 'node:os';
import path from 'node:path';

export const REQUIRE_SYSTEM_TESTS = process.env.RTSA_REQUIRE_SYSTEM_TESTS === '1';

interface SystemBinary {
  /** Where the tests look for it. */
  path: string;
  /** The environment variable that points the tests elsewhere. */
  override: string;
  install: string;
}

export const SYSTEM_BINARIES = {
  chromium: {
    path: process.env.RTSA_CHROMIUM ?? '/usr/bin/chromium',
    override: 'RTSA_CHROMIUM',
    install: 'apt-get install -y chromium',
  },
  prometheus: {
    path: process.env.PROMETHEUS_BIN ?? '/usr/bin/prometheus',
    override: 'PROMETHEUS_BIN',
    install: 'apt-get install -y prometheus',
  },
} as const satisfies Record<string, SystemBinary>;

export type SystemBinaryName = keyof typeof SYSTEM_BINARIES;

function executable(file: string): boolean {
  try {
    accessSync(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** True when `name` (and, for Prometheus, promtool beside it) is installed. */
export function hasBinary(name: SystemBinaryName): boolean {
  const bin = SYSTEM_BINARIES[name];
  if (!executable(bin.path)) return false;
  return name !== 'prometheus' || executable(path.join(path.dirname(bin.path), 'promtool'));
}

/** What to say when `name` is missing: what to install, or which variable to set. */
export function missingMessage(name: SystemBinaryName): string {
  const bin = SYSTEM_BINARIES[name];
  return `needs ${name}, not found at ${bin.path}: ${bin.install} (or set ${bin.override})`;
}

/**
 * The `skip` option of a test or suite that needs `name`: a reason when it is missing (unless
 * RTSA_REQUIRE_SYSTEM_TESTS=1), else false. The test itself must still check with `requireBinary`.
 */
export function skipWithout(name: SystemBinaryName): string | false {
  return hasBinary(name) || REQUIRE_SYSTEM_TESTS ? false : missingMessage(name);
}

/** Fails with the install hint when `name` is missing (under RTSA_REQUIRE_SYSTEM_TESTS=1 that is a test failure). */
export function requireBinary(name: SystemBinaryName): string {
  if (!hasBinary(name)) throw new Error(missingMessage(name));
  return SYSTEM_BINARIES[name].path;
}

/**
 * Why the S3 tests cannot run here, or undefined when they can: s3proxy needs Java 17+ (RTSA_JAVA
 * names another binary), and Maven to fetch it once (scripts/s3-local.ts caches it under
 * ~/.cache/rtsa). Under RTSA_REQUIRE_SYSTEM_TESTS=1 they always run, and fail when Java is missing.
 */
export function s3Unavailable(): string | undefined {
  if (REQUIRE_SYSTEM_TESTS) return undefined;
  const java = spawnSync(process.env.RTSA_JAVA ?? 'java', ['-version'], { encoding: 'utf8' });
  if (java.error || java.status !== 0) {
    return 'needs Java 17+ for the S3 server (s3proxy): apt-get install -y openjdk-17-jre-headless';
  }
  const cache =
    process.env.RTSA_CACHE_DIR ??
    path.join(process.env.XDG_CACHE_HOME ?? path.join(homedir(), '.cache'), 'rtsa');
  if (existsSync(path.join(cache, 's3proxy-4.1.0', 's3proxy-4.1.0-jar-with-dependencies.jar')))
    return undefined;
  const mvn = spawnSync('mvn', ['-v'], { encoding: 'utf8' });
  if (mvn.error || mvn.status !== 0)
    return 'needs Maven to fetch the S3 server (s3proxy) once: apt-get install -y maven';
  return undefined;
}

/** The dbt CI installs (scripts/dbt-equivalence.sh): dbt-core and dbt-postgres, pinned. */
export const DBT_VERSIONS = { 'dbt-core': '1.11.16', 'dbt-postgres': '1.11.0' } as const;

/** dbt's executable: RTSA_DBT, else the tools venv of the repository (.venv-tools/bin/dbt). */
export function dbtPath(): string {
  return process.env.RTSA_DBT ?? path.resolve(import.meta.dirname, '../../.venv-tools/bin/dbt');
}

/**
 * Why the dbt equivalence test cannot run here, or undefined when it can. Under
 * RTSA_REQUIRE_SYSTEM_TESTS=1 it always runs, and fails when dbt is missing.
 */
export function dbtUnavailable(): string | undefined {
  if (REQUIRE_SYSTEM_TESTS) return undefined;
  const dbt = spawnSync(dbtPath(), ['--version'], { encoding: 'utf8' });
  if (dbt.error || dbt.status !== 0) {
    return `needs dbt at ${dbtPath()}: bash scripts/dbt-equivalence.sh installs it (or set RTSA_DBT)`;
  }
  return undefined;
}

/**
 * Apache Spark for the side-by-side benchmarks: a Python venv (.venv-spark/, gitignored) with
 * pyspark 4.2.0 from PyPI, created on first use; the Kafka connector and anything else Spark
 * needs come from Maven Central through `spark.jars.packages`, cached in .venv-spark/ivy.
 * pyspark is pinned to 4.2.0 because the connectors of 4.2.1 and 4.3.x are not served here
 * (../shared/research/lake-deps.md).
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { checkJava } from '../../scripts/local-service.ts';

export const PYSPARK_VERSION = '4.2.0';
const PACKAGES = [`pyspark==${PYSPARK_VERSION}`, 'psycopg2-binary==2.9.13'];
export const VENV = path.resolve('.venv-spark');
const PYTHON = path.join(VENV, 'bin', 'python');
export const IVY_CACHE = path.join(VENV, 'ivy');

/** The venv's python, after creating the venv and installing pyspark when missing (pip's progress shown). */
export function ensureSparkVenv(): string {
  checkJava('Spark');
  if (installedVersion() === PYSPARK_VERSION) return PYTHON;
  console.log(`setting up ${VENV}: ${PACKAGES.join(', ')} from PyPI (~450 MB, once)`);
  if (!existsSync(PYTHON)) run('python3', ['-m', 'venv', VENV], 'install python3 with the venv module');
  run(
    PYTHON,
    ['-m', 'pip', 'install', ...PACKAGES],
    `check that PyPI is reachable, or remove ${VENV} and retry`,
  );
  const version = installedVersion();
  if (version !== PYSPARK_VERSION) {
    throw new Error(
      `${VENV} has pyspark ${version ?? 'missing'} after install, want ${PYSPARK_VERSION}: remove ${VENV} and retry`,
    );
  }
  return PYTHON;
}

function installedVersion(): string | undefined {
  if (!existsSync(PYTHON)) return undefined;
  const r = spawnSync(PYTHON, ['-c', 'import psycopg2, pyspark; print(pyspark.__version__)'], {
    encoding: 'utf8',
  });
  return r.status === 0 ? r.stdout.trim() : undefined;
}

function run(cmd: string, args: string[], hint: string): void {
  const r = spawnSync(cmd, args, { stdio: 'inherit' });
  if (r.status !== 0) throw new Error(`\`${cmd} ${args.join(' ')}\` failed (exit ${r.status}): ${hint}`);
}

/** One JSON line a bench/spark/*.py job printed: {"event": ..., "t": unix seconds, ...}. */
export interface JobLine {
  event: string;
  t: number;
  [field: string]: unknown;
}

/**
 * Runs a bench/spark/*.py job; `onLine` sees each JSON line as it comes (Spark's own log goes to
 * stderr, kept for the error message). Resolves with every line once the job exits 0.
 */
export function runSparkJob(
  python: string,
  script: string,
  args: string[],
  onLine: (line: JobLine) => void,
): { child: ChildProcess; done: Promise<JobLine[]> } {
  const child = spawn(python, [path.join('bench', 'spark', script), ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, PYSPARK_PYTHON: python, SPARK_LOCAL_IP: '127.0.0.1' },
  });
  const lines: JobLine[] = [];
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => {
    stderr = (stderr + d.toString()).slice(-8_000);
  });
  createInterface({ input: child.stdout! }).on('line', (text) => {
    if (!text.startsWith('{')) return;
    const line = JSON.parse(text) as JobLine;
    lines.push(line);
    onLine(line);
  });
  const done = new Promise<JobLine[]>((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code, signal) => {
      if (code === 0) resolve(lines);
      else
        reject(new Error(`Spark job ${script} exited with ${code ?? signal}; its last output:\n${stderr}`));
    });
  });
  return { child, done };
}

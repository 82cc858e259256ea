import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createEventGenerator, parseWeights } from '../src/generator/index.ts';
import { startEmbeddedPostgres } from '../src/db/index.ts';
import { silentLogger } from '../src/telemetry/logger.ts';

export const WEIGHTS =
  'viewer_join=25,viewer_leave=18,chat_message=50,donation=5,stream_start=0.2,stream_stop=0.1';

/** A temp folder with a running embedded Postgres; `close` removes both. */
export async function scratch(): Promise<{ dir: string; pgUrl: string; close(): Promise<void> }> {
  const dir = await mkdtemp(path.join(tmpdir(), 'rtsa-bench-'));
  const pg = await startEmbeddedPostgres(dir, silentLogger());
  return {
    dir,
    pgUrl: pg.url,
    close: async () => {
      await pg.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** The benchmark's traffic: 1,000 streams, 100,000 users, event time moving `stepMs` per event. */
export function benchGenerator(startMs: number, stepMs: number) {
  let now = startMs;
  const gen = createEventGenerator({
    streams: 1000,
    users: 100_000,
    weights: parseWeights(WEIGHTS),
    seed: 1,
    now: () => now,
  });
  return {
    next: () => {
      now += stepMs;
      return gen.next();
    },
  };
}

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

export function progress(text: string): void {
  if (process.stdout.isTTY) process.stdout.write(`\r${text}   `);
}

export function endProgress(): void {
  if (process.stdout.isTTY) process.stdout.write('\n');
}

/** CPU profile of the processing phase only (RTSA_BENCH_PROFILE=file.cpuprofile). */
export async function startProfile() {
  const { Session } = await import('node:inspector/promises');
  const { writeFile } = await import('node:fs/promises');
  const session = new Session();
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.start');
  return {
    stop: async (file: string) => {
      const { profile } = await session.post('Profiler.stop');
      await writeFile(file, JSON.stringify(profile));
      session.disconnect();
    },
  };
}

/**
 * The Accept-Encoding the HTTP benchmarks send: a browser's (Chromium and Firefox send this; the
 * dashboards are the API's readers), or RTSA_BENCH_ACCEPT_ENCODING (e.g. `gzip`, as curl
 * --compressed and Node's fetch send it).
 */
export function benchAcceptEncoding(): string {
  return process.env.RTSA_BENCH_ACCEPT_ENCODING ?? 'gzip, deflate, br, zstd';
}

/** A process's CPU seconds so far, user + system (Linux; 100 ticks a second). */
export function processCpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/** CPU microseconds per request from CPU seconds spent over `requests`. */
export const cpuMicrosPerRequest = (cpuSeconds: number, requests: number) =>
  Math.round((cpuSeconds * 1e6) / Math.max(1, requests));

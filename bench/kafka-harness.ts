/**
 * What the Kafka benchmarks share: the broker from KAFKA_BROKERS (they need a real one), a topic
 * pre-filled with the benchmark traffic (1,000 streams, 100,000 users, like `throughput`), a fresh
 * database per run on one embedded Postgres, and `rtsa process` children.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { Admin } from '@platformatic/kafka';
import pg from 'pg';
import { KafkaBus } from '../src/bus/kafka/index.ts';
import type { OutgoingMessage } from '../src/bus/types.ts';
import { createPool, migrate } from '../src/db/index.ts';
import type { Registry } from 'prom-client';
import { loadConfig } from '../src/config/index.ts';
import { type ProcessorRole, startProcessorRole } from '../src/runtime/processor-role.ts';
import { silentLogger } from '../src/telemetry/logger.ts';
import { benchGenerator, endProgress, progress } from './harness.ts';

export function kafkaBrokers(): string[] {
  const value = process.env.KAFKA_BROKERS?.trim();
  if (!value) {
    throw new Error(
      'KAFKA_BROKERS is not set: the Kafka benchmarks need a broker. Start one with ' +
        '`export $(npm run -s kafka:local -- start)`, then run `npm run bench -- kafka-throughput`',
    );
  }
  return value.split(',').map((b) => b.trim());
}

export function uniqueName(prefix: string): string {
  return `${prefix}-${Date.now().toString(36)}-${randomBytes(3).toString('hex')}`;
}

export const PARTITIONS = 6;

/**
 * Creates `topic` with 6 partitions and fills it with `events` generated events (event time moving
 * 50 µs per event: the traffic of 20,000 events/s), 4 sends of 10,000 in flight.
 */
export async function prefillTopic(
  brokers: string[],
  topic: string,
  events: number,
): Promise<{ bytes: number; seconds: number }> {
  const bus = new KafkaBus({ brokers, clientId: 'rtsa-bench-fill' });
  try {
    await bus.ensureTopic(topic, PARTITIONS);
    const sink = bus.sink();
    const gen = benchGenerator(Date.now() - 3_600_000, 0.05);
    const started = performance.now();
    let made = 0;
    let bytes = 0;
    const nextBatch = (): OutgoingMessage[] => {
      const batch: OutgoingMessage[] = [];
      for (let i = 0; i < 10_000 && made < events; i++, made++) {
        const e = gen.next();
        bytes += e.value.length;
        batch.push({ key: e.key, value: e.value });
      }
      return batch;
    };
    let sent = 0;
    await Promise.all(
      Array.from({ length: 4 }, async () => {
        for (let batch = nextBatch(); batch.length > 0; batch = nextBatch()) {
          await sink.send(topic, batch);
          sent += batch.length;
          progress(`pre-filling ${topic}: ${sent.toLocaleString()} events`);
        }
      }),
    );
    endProgress();
    return { bytes, seconds: (performance.now() - started) / 1000 };
  } finally {
    await bus.close();
  }
}

export async function deleteTopic(brokers: string[], topic: string): Promise<void> {
  const admin = new Admin({ clientId: 'rtsa-bench-cleanup', bootstrapBrokers: brokers });
  try {
    await admin.deleteTopics({ topics: [topic] });
  } catch {
    // already gone
  } finally {
    await admin.close();
  }
}

/** A new database on the scratch Postgres, migrated. */
export async function freshDatabase(
  serverUrl: string,
  name: string,
): Promise<{ url: string; pool: pg.Pool; drop(): Promise<void> }> {
  const admin = new pg.Client({ connectionString: serverUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  const pool = createPool(url.toString(), 4);
  await migrate(pool);
  return {
    url: url.toString(),
    pool,
    drop: async () => {
      await pool.end();
      const c = new pg.Client({ connectionString: serverUrl });
      await c.connect();
      await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await c.end();
    },
  };
}

/**
 * The `rtsa process` role in this process (as `kafka-throughput` and the Spark side-by-side run it):
 * `topic` read as consumer group `group` with `threads` processor threads, into `db`.
 */
export async function startKafkaProcessor(p: {
  bus: KafkaBus;
  brokers: string[];
  topic: string;
  group: string;
  threads: number;
  db: { url: string; pool: pg.Pool };
  registry: Registry;
}): Promise<ProcessorRole> {
  const { config } = loadConfig(
    'process',
    [
      '--topic',
      p.topic,
      '--consumer-group',
      p.group,
      '--kafka-brokers',
      p.brokers.join(','),
      '--processor-threads',
      String(p.threads),
    ],
    {},
  );
  return startProcessorRole({
    config,
    bus: p.bus,
    pool: p.db.pool,
    databaseUrl: p.db.url,
    registry: p.registry,
    logger: silentLogger(),
  });
}

/** Events committed by `group` so far (the sum of its partitions' committed offsets). */
export async function committedTotal(pool: pg.Pool, group: string): Promise<number> {
  const { rows } = await pool.query<{ o: number }>(
    'SELECT coalesce(sum(committed_offset), 0)::bigint AS o FROM processor_partitions WHERE consumer_group = $1',
    [group],
  );
  return rows[0]!.o;
}

/** Processes that own at least one partition of `group` right now. */
export async function owners(pool: pg.Pool, group: string): Promise<Set<string>> {
  const { rows } = await pool.query<{ owner: string }>(
    'SELECT DISTINCT owner FROM processor_partitions WHERE consumer_group = $1 AND owner IS NOT NULL',
    [group],
  );
  return new Set(rows.map((r) => r.owner));
}

/** `rtsa process` in a child process, default settings (flush 500 ms, max batch 50,000). */
export function startProcessChild(args: string[]): ChildProcess {
  return spawn(
    process.execPath,
    ['src/cli/main.ts', 'process', '--log-format', 'json', '--log-level', 'warn', ...args],
    { stdio: ['ignore', 'ignore', 'inherit'] },
  );
}

export async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  await exited;
}

/**
 * CPU seconds used so far by each part of the pipeline (Linux /proc; {} elsewhere). Counts only
 * this benchmark's own processes, because the machine is shared: this process and everything it
 * started (Postgres, `rtsa process` children, Spark's python driver and its JVM), and the broker
 * of KAFKA_BROKERS when it is a `kafka:local` one (its data folder names its port).
 */
export function cpuSeconds(): Record<string, number> {
  const out: Record<string, number> = {};
  let pids: string[];
  try {
    pids = readdirSync('/proc').filter((d) => /^\d+$/.test(d));
  } catch {
    return out;
  }
  const procs = new Map<number, { ppid: number; ticks: number }>();
  for (const pid of pids) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      // utime + stime, and cutime + cstime: the children it reaped (Postgres' backends of closed
      // connections, which are gone from /proc by the second snapshot).
      const ticks = Number(fields[11]) + Number(fields[12]) + Number(fields[13]) + Number(fields[14]);
      procs.set(Number(pid), { ppid: Number(fields[1]), ticks });
    } catch {
      // the process ended meanwhile
    }
  }
  const ours = new Set([process.pid]);
  for (let grew = true; grew; ) {
    grew = false;
    for (const [pid, p] of procs) {
      if (!ours.has(pid) && ours.has(p.ppid)) {
        ours.add(pid);
        grew = true;
      }
    }
  }
  const brokerPort = /:(\d+)$/.exec(process.env.KAFKA_BROKERS?.split(',')[0]?.trim() ?? '')?.[1];
  for (const [pid, { ticks }] of procs) {
    try {
      const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ');
      const broker = /\bkafka\.Kafka\b/.test(cmdline) && cmdline.includes(`rtsa-kafka-${brokerPort}-`);
      if (!ours.has(pid) && !broker) continue;
      const part =
        pid === process.pid
          ? 'bench process'
          : broker
            ? 'kafka broker'
            : /org\.apache\.spark\.deploy\.SparkSubmit\b/.test(cmdline)
              ? 'spark JVM'
              : /bench\/spark\/\w+\.py\b/.test(cmdline)
                ? 'spark python driver'
                : /(^|\/)postgres(:| |$)/.test(cmdline.split(' ')[0] ?? '')
                  ? 'postgres'
                  : /main\.ts (process|start|generate)\b/.test(cmdline)
                    ? `rtsa ${/main\.ts (\w+)/.exec(cmdline)![1]}`
                    : 'other';
      out[part] = (out[part] ?? 0) + ticks / CLOCK_TICKS;
    } catch {
      // the process ended meanwhile
    }
  }
  return out;
}

const CLOCK_TICKS = 100;

/** CPU seconds used by the parts whose name starts with one of `prefixes`. */
export function sumCpu(
  before: Record<string, number>,
  after: Record<string, number>,
  prefixes: string[],
): number {
  let total = 0;
  for (const [part, s] of Object.entries(after)) {
    if (prefixes.some((p) => part.startsWith(p))) total += s - (before[part] ?? 0);
  }
  return total;
}

/** CPU seconds per part between two `cpuSeconds()` snapshots, and the share of the machine's cores. */
export function cpuUsed(
  before: Record<string, number>,
  after: Record<string, number>,
  wallSeconds: number,
): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [part, s] of Object.entries(after)) {
    const used = s - (before[part] ?? 0);
    if (used > 0.05)
      out[part] = `${used.toFixed(1)} s (${((100 * used) / wallSeconds).toFixed(0)}% of a core)`;
  }
  return out;
}

/** Polls a child's CPU seconds (utime + stime) while it runs; `seconds()` is the last reading. */
export function trackChildCpu(pid: number): { seconds(): number; stop(): void } {
  let last = 0;
  const read = () => {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      last = (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
    } catch {
      // gone, or not Linux: keep the last reading
    }
  };
  const timer = setInterval(read, 100);
  return {
    seconds: () => last,
    stop: () => clearInterval(timer),
  };
}

/**
 * What the end-to-end Kafka pipeline suites share (scale-out, zombie fencing, faults): real
 * `rtsa process` / `rtsa generate` children whose JSON logs the test reads back, reading a whole
 * topic back from Kafka, the batch oracle per partition against the tables, and an audit of every
 * change to `processor_partitions` (a trigger in the test's own database) to prove that no
 * processor ever moved a partition's position backwards (a zombie commit would).
 * RTSA_TEST_PROCESSOR_LOG_LEVEL=debug makes the children log more (shown when a test fails).
 */
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import fc from 'fast-check';
import type pg from 'pg';
import { KafkaBus } from '../../src/bus/kafka/index.ts';
import type { BusRecord, Sink } from '../../src/bus/types.ts';
import { recordsArbitrary } from '../helpers/event-gen.ts';
import { compareWindows, type OracleResult, oracle } from '../helpers/oracle.ts';
import { kafkaBrokers, uniqueName, waitFor } from './kafka-fixture.ts';
import { spawnRtsa } from '../helpers/rtsa-child.ts';

export type LogLine = Record<string, unknown> & { msg?: string; level?: number; time?: number };

/** A running `rtsa <command>` child, with its JSON log lines as they arrive. */
export class RtsaChild {
  readonly name: string;
  readonly child: ChildProcess;
  readonly pid: number;
  /** `processor_partitions.owner` of this process. */
  readonly owner: string;
  readonly logs: LogLine[] = [];
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  #stdout = '';
  #stderr = '';

  constructor(name: string, command: string, args: readonly string[]) {
    this.name = name;
    // The whole environment: these children must see KAFKA_BROKERS.
    this.child = spawnRtsa([command, '--log-format', 'json', ...args], {
      name,
      env: process.env,
      output: 'capture',
    }).proc;
    if (this.child.pid === undefined) throw new Error(`could not start rtsa ${command}`);
    this.pid = this.child.pid;
    this.owner = `${hostname()}:${this.pid}`;
    this.child.stdout!.on('data', (chunk: Buffer) => {
      this.#stdout += chunk.toString('utf8');
      let nl = this.#stdout.indexOf('\n');
      while (nl >= 0) {
        const line = this.#stdout.slice(0, nl);
        this.#stdout = this.#stdout.slice(nl + 1);
        try {
          this.logs.push(JSON.parse(line) as LogLine);
        } catch {
          this.logs.push({ msg: line });
        }
        nl = this.#stdout.indexOf('\n');
      }
    });
    this.child.stderr!.on('data', (chunk: Buffer) => {
      this.#stderr += chunk.toString('utf8');
    });
    this.exited = new Promise((resolve) => {
      this.child.once('exit', (code, signal) => resolve({ code, signal }));
    });
    running.add(this);
    void this.exited.then(() => running.delete(this));
  }

  get alive(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  kill(signal: NodeJS.Signals): void {
    if (this.alive) this.child.kill(signal);
  }

  /** SIGTERM (a clean stop: final commit, leave the group) and wait for the exit code. */
  async stop(timeoutMs = 30_000): Promise<number | null> {
    if (!this.alive) return this.child.exitCode;
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.kill('SIGKILL'), timeoutMs);
    const { code } = await this.exited;
    clearTimeout(timer);
    return code;
  }

  messages(): string[] {
    return this.logs.map((l) => String(l.msg ?? ''));
  }

  /** The last lines of output, for assertion messages. */
  tail(lines = 30): string {
    const out = this.logs.slice(-lines).map((l) => JSON.stringify(l));
    out.push(`process state: ${processState(this.pid)}`);
    if (this.#stderr) out.push(`stderr: ${this.#stderr.slice(-2000)}`);
    return `--- ${this.name} (pid ${this.pid}) ---\n${out.join('\n')}`;
  }
}

const running = new Set<RtsaChild>();

/** The kernel's state letter of a process (R, S, T = stopped, Z...), or 'gone'. */
function processState(pid: number): string {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0] ?? '?';
  } catch {
    return 'gone';
  }
}

/** SIGKILLs every child still running (for `after`): only processes these tests started. */
export async function killAllChildren(): Promise<void> {
  const left = [...running];
  for (const c of left) {
    c.kill('SIGCONT'); // a stopped process does not act on SIGKILL until continued on some kernels
    c.kill('SIGKILL');
  }
  await Promise.all(left.map((c) => c.exited));
}

export interface ProcessorOptions {
  brokers: string[];
  topic: string;
  group: string;
  databaseUrl: string;
  watermarkDelayMs: number;
  flushIntervalMs?: number;
  maxBatch?: number;
  sessionTimeoutMs?: number;
  logLevel?: string;
  partitions?: number;
  /** --processor-threads (default 1): each thread is its own member of the group. */
  threads?: number;
}

export function startProcessor(name: string, o: ProcessorOptions): RtsaChild {
  return new RtsaChild(name, 'process', [
    '--kafka-brokers',
    o.brokers.join(','),
    '--topic',
    o.topic,
    '--partitions',
    String(o.partitions ?? 6),
    '--consumer-group',
    o.group,
    '--database-url',
    o.databaseUrl,
    '--kafka-session-timeout',
    `${o.sessionTimeoutMs ?? 6_000}ms`,
    '--watermark-delay',
    `${o.watermarkDelayMs}ms`,
    // The oracle knows nothing of idle advances: keep them out of these runs.
    '--idle-timeout',
    '1h',
    '--flush-interval',
    `${o.flushIntervalMs ?? 50}ms`,
    '--max-batch',
    String(o.maxBatch ?? 300),
    '--processor-threads',
    String(o.threads ?? 1),
    '--log-level',
    o.logLevel ?? process.env.RTSA_TEST_PROCESSOR_LOG_LEVEL ?? 'info',
  ]);
}

export interface PartitionRow {
  partition: number;
  epoch: number;
  owner: string | null;
  committed_offset: number;
}

/** The process of an owner: `host:pid` of `host:pid` or of a processor thread's `host:pid/tN`. */
export function processOf(owner: string | null): string | null {
  return owner === null ? null : owner.replace(/\/t\d+$/, '');
}

export async function partitionRows(pool: pg.Pool, group: string, topic: string): Promise<PartitionRow[]> {
  const { rows } = await pool.query<PartitionRow>(
    `SELECT partition, epoch, owner, committed_offset FROM processor_partitions
     WHERE consumer_group = $1 AND topic = $2 ORDER BY partition`,
    [group, topic],
  );
  return rows;
}

/** Latest offset + 1 of every partition of `topic`. */
export async function endOffsets(topic: string, brokers = kafkaBrokers()): Promise<Map<number, number>> {
  const bus = new KafkaBus({ brokers, clientId: 'rtsa-test-ends' });
  try {
    return await bus.source({ topic, group: uniqueName('ends') }).endOffsets();
  } finally {
    await bus.close();
  }
}

/** Waits until the processors committed every partition up to the end of the log. */
export async function waitCaughtUp(
  pool: pg.Pool,
  group: string,
  topic: string,
  ends: Map<number, number>,
  timeoutMs: number,
  diagnostics: () => string = () => '',
): Promise<void> {
  let last: PartitionRow[] = [];
  try {
    await waitFor(
      'every partition committed up to the end of the log',
      async () => {
        last = await partitionRows(pool, group, topic);
        const at = new Map(last.map((r) => [r.partition, r.committed_offset]));
        return [...ends].every(([p, end]) => end === 0 || (at.get(p) ?? 0) >= end);
      },
      timeoutMs,
    );
  } catch (error) {
    throw new Error(
      `${(error as Error).message}: committed ${JSON.stringify(last)} vs ends ${JSON.stringify([...ends])}\n${diagnostics()}`,
    );
  }
}

/** Every record of `topic`, read from offset 0 up to the current end of each partition. */
export async function readTopic(topic: string, brokers = kafkaBrokers()): Promise<BusRecord[]> {
  const bus = new KafkaBus({ brokers, clientId: 'rtsa-test-reader' });
  try {
    const ends = await bus.source({ topic, group: uniqueName('ends') }).endOffsets();
    const next = new Map<number, number>();
    const out: BusRecord[] = [];
    const done = () => [...ends].every(([p, end]) => (next.get(p) ?? 0) >= end);
    const source = bus.source({ topic, group: uniqueName('reader'), maxBatch: 10_000 });
    await source.start({
      assigned: async (parts) => new Map(parts.map((p) => [p, 0])),
      revoked: async () => {},
      records: async (batch) => {
        for (const r of batch) {
          if (r.offset >= (ends.get(r.partition) ?? 0)) continue;
          out.push(r);
          next.set(r.partition, r.offset + 1);
        }
      },
    });
    await waitFor('the whole topic read back', done, 60_000);
    await source.stop();
    return out.sort((a, b) => a.partition - b.partition || a.offset - b.offset);
  } finally {
    await bus.close();
  }
}

export interface OracleSettings {
  watermarkDelayMs: number;
  maxFutureSkewMs: number;
}

/** The oracle over each partition's records in offset order (what the tables must equal). */
export function oracleByPartition(records: readonly BusRecord[], settings: OracleSettings) {
  const windows: OracleResult['windows'] = [];
  const state: OracleResult['state'] = [];
  const deadLetters: { partition: number; offset: number; reason: string }[] = [];
  for (const p of [...new Set(records.map((r) => r.partition))].sort((a, b) => a - b)) {
    const mine = records.filter((r) => r.partition === p).sort((a, b) => a.offset - b.offset);
    const o = oracle(mine, settings);
    windows.push(...o.windows);
    state.push(...o.state);
    deadLetters.push(...o.deadLetters.map((d) => ({ partition: p, offset: d.offset, reason: d.reason })));
  }
  windows.sort(compareWindows);
  state.sort((a, b) => (a.stream_id < b.stream_id ? -1 : a.stream_id > b.stream_id ? 1 : 0));
  deadLetters.sort(byPosition);
  return { windows, state, deadLetters };
}

function byPosition(a: { partition: number; offset: number }, b: typeof a): number {
  return a.partition - b.partition || a.offset - b.offset;
}

/**
 * `stream_metrics_minute`, `stream_state` and `dead_letter_events` (of `topic`) must equal the
 * oracle over the records read back from Kafka. Returns the expected result for further checks.
 */
export async function expectTablesEqualOracle(
  pool: pg.Pool,
  topic: string,
  records: readonly BusRecord[],
  settings: OracleSettings,
) {
  const expected = oracleByPartition(records, settings);
  const windows = (
    await pool.query(
      `SELECT window_start, stream_id, active_viewers, chat_messages, donations_usd::text AS donations_usd,
              donation_count, viewer_joins, viewer_leaves, events, is_final FROM stream_metrics_minute`,
    )
  ).rows.map((r) => ({ ...r, window_start: (r.window_start as Date).toISOString() }));
  assert.deepEqual(windows.sort(compareWindows), expected.windows, 'stream_metrics_minute equals the oracle');
  const state = (
    await pool.query('SELECT stream_id, active_viewers, last_event_at FROM stream_state ORDER BY stream_id')
  ).rows.map((r) => ({ ...r, last_event_at: (r.last_event_at as Date).toISOString() }));
  assert.deepEqual(state, expected.state, 'stream_state equals the oracle');
  const dead = (
    await pool.query<{ partition: number; offset: number; reason: string }>(
      'SELECT partition, "offset", reason FROM dead_letter_events WHERE source = $1',
      [topic],
    )
  ).rows;
  assert.deepEqual(dead.sort(byPosition), expected.deadLetters, 'dead_letter_events equals the oracle');
  return expected;
}

/** Records every version of every `processor_partitions` row (claims and commits) in the test's database. */
export async function installPartitionAudit(pool: pg.Pool): Promise<void> {
  await pool.query(`
    CREATE TABLE test_partition_history (
      seq bigserial PRIMARY KEY, consumer_group text, topic text, partition int, epoch bigint,
      owner text, committed_offset bigint, at timestamptz NOT NULL DEFAULT clock_timestamp());
    CREATE FUNCTION test_partition_audit() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      INSERT INTO test_partition_history (consumer_group, topic, partition, epoch, owner, committed_offset)
      VALUES (NEW.consumer_group, NEW.topic, NEW.partition, NEW.epoch, NEW.owner, NEW.committed_offset);
      RETURN NULL;
    END $$;
    CREATE TRIGGER test_partition_audit AFTER INSERT OR UPDATE ON processor_partitions
      FOR EACH ROW EXECUTE FUNCTION test_partition_audit();`);
}

export interface HistoryRow {
  seq: number;
  partition: number;
  epoch: number;
  owner: string;
  committed_offset: number;
  at: Date;
}

export async function partitionHistory(pool: pg.Pool, group: string, topic: string): Promise<HistoryRow[]> {
  const { rows } = await pool.query<HistoryRow>(
    `SELECT seq, partition, epoch, owner, committed_offset, at FROM test_partition_history
     WHERE consumer_group = $1 AND topic = $2 ORDER BY seq`,
    [group, topic],
  );
  return rows;
}

/**
 * Per partition, in the order the row changed: a claim bumps the epoch by exactly one and keeps the
 * position; a commit keeps epoch and owner and never moves the position backwards. A zombie's
 * commit (an old epoch, a position behind the new owner's) would break this.
 */
export function assertNoZombieWrites(history: readonly HistoryRow[]): void {
  const last = new Map<number, HistoryRow>();
  for (const row of history) {
    const prev = last.get(row.partition);
    if (prev === undefined) {
      assert.equal(row.epoch, 1, `partition ${row.partition} starts at epoch 1`);
    } else if (row.epoch === prev.epoch) {
      assert.equal(row.owner, prev.owner, `partition ${row.partition}: a commit keeps the owner`);
      assert.ok(
        row.committed_offset >= prev.committed_offset,
        `partition ${row.partition}: position went back from ${prev.committed_offset} to ${row.committed_offset} (epoch ${row.epoch}, ${row.owner})`,
      );
    } else {
      assert.equal(row.epoch, prev.epoch + 1, `partition ${row.partition}: a claim bumps the epoch by one`);
      assert.equal(row.committed_offset, prev.committed_offset, 'a claim keeps the position');
    }
    last.set(row.partition, row);
  }
}

/** Whether a log line of a processor says it was fenced (its commit for lost partitions was refused). */
export function isFencedWarning(line: LogLine): boolean {
  return /were taken over by another processor/.test(String(line.msg ?? ''));
}

/**
 * Test traffic from `recordsArbitrary` (out-of-order inside the delay, duplicates, late and invalid
 * events), spread over more streams so that every partition of a 6-partition topic gets some:
 * `stream_N` becomes `stream_N_<lane>`, the lane picked by the event id (so a duplicate keeps the
 * lane of its original). Invalid lines stay as they are, keyed ''.
 */
export function laneTraffic(
  seed: number,
  count: number,
  watermarkDelayMs: number,
  lanes = 5,
): { key: string; value: string }[] {
  const [records] = fc.sample(recordsArbitrary({ minEvents: count, maxEvents: count, watermarkDelayMs }), {
    numRuns: 1,
    seed,
  });
  return records!.map((r) => {
    const value = String(r.value);
    let event: Record<string, unknown>;
    try {
      event = JSON.parse(value) as Record<string, unknown>;
    } catch {
      return { key: '', value };
    }
    if (typeof event.stream_id !== 'string' || typeof event.event_id !== 'string') return { key: '', value };
    const lane = Number.parseInt(event.event_id.replace(/\D/g, '') || '0', 10) % lanes;
    event.stream_id = `${event.stream_id}_${lane}`;
    return { key: event.stream_id as string, value: JSON.stringify(event) };
  });
}

/** Sends messages through a Kafka sink in small chunks with pauses, so they keep arriving for a while. */
export class Feeder {
  sent = 0;
  readonly done: Promise<void>;
  #stopped = false;

  constructor(
    sink: Sink,
    topic: string,
    messages: readonly { key: string; value: string | Buffer }[],
    options: { chunk: number; pauseMs: number },
  ) {
    this.done = (async () => {
      while (this.sent < messages.length && !this.#stopped) {
        const chunk = messages.slice(this.sent, this.sent + options.chunk);
        await sink.send(topic, chunk);
        this.sent += chunk.length;
        await sleep(options.pauseMs);
      }
    })();
    this.done.catch(() => {});
  }

  stop(): Promise<void> {
    this.#stopped = true;
    return this.done;
  }
}

/**
 * The partitions a processor holds in memory now, with the epoch it claimed them at, from its
 * logs: claimed ("partition assigned…"), minus revoked, minus fenced.
 */
export function heldPartitions(processor: RtsaChild): Map<number, number> {
  const held = new Map<number, number>();
  for (const line of processor.logs) {
    if (line.role !== 'processor') continue;
    const msg = String(line.msg ?? '');
    if (msg.startsWith('partition assigned') && typeof line.partition === 'number') {
      held.set(line.partition, Number(line.epoch));
    } else if (msg === 'partitions revoked' || isFencedWarning(line)) {
      for (const p of (line.partitions as number[] | undefined) ?? []) held.delete(p);
    }
  }
  return held;
}

/**
 * A processor is working steadily when it holds partitions, the store agrees (same owner and
 * epoch) and it has committed progress on each of them since its claim.
 */
export async function workingSteadily(pool: pg.Pool, group: string, topic: string, processor: RtsaChild) {
  const held = heldPartitions(processor);
  if (held.size === 0) return false;
  const rows = new Map((await partitionRows(pool, group, topic)).map((r) => [r.partition, r]));
  const history = await partitionHistory(pool, group, topic);
  return [...held].every(([p, epoch]) => {
    const row = rows.get(p);
    if (row?.owner !== processor.owner || row.epoch !== epoch) return false;
    const versions = history.filter((h) => h.partition === p && h.epoch === epoch);
    return versions.length > 1 && versions.at(-1)!.committed_offset > versions[0]!.committed_offset;
  });
}

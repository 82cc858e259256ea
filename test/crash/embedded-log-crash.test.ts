/**
 * kill -9 of a process appending to the embedded log, at random moments: every acknowledged record
 * must be there after reopening, intact and in order, and appending must continue at the right
 * offset. Rounds alternate fsync='never' and fsync='always' (both promise to survive kill -9).
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, open, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { EmbeddedBus } from '../../src/bus/embedded/index.ts';
import { partitionForKey } from '../../src/bus/partitioner.ts';
import { listSegments, scanSegment, segmentPath } from '../../src/bus/embedded/segment.ts';
import type { BusRecord } from '../../src/bus/types.ts';
import { waitFor } from '../bus/contract.ts';
import { crashKey, crashValue, parseCrashValue } from '../bus/fixtures/crash-values.ts';

const APPEND_LOOP = fileURLToPath(new URL('../bus/fixtures/append-loop.ts', import.meta.url));
const TOPIC = 'crash';
const PARTITIONS = 3;
const PRODUCERS = 4;
const ROUNDS = 8;

interface Ack {
  run: number;
  producer: number;
  from: number;
  to: number;
  last: Record<string, number>;
}

let dir: string;
const children: ChildProcess[] = [];
const buses: EmbeddedBus[] = [];

after(async () => {
  for (const child of children)
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  await Promise.allSettled(buses.map((b) => b.close()));
  if (dir) await rm(dir, { recursive: true, force: true });
});

function openBus(): EmbeddedBus {
  const bus = new EmbeddedBus({ dir, fsync: 'always', retentionMs: 86_400_000, segmentBytes: 256 * 1024 });
  buses.push(bus);
  return bus;
}

/** Runs the append loop, kills it with SIGKILL after `killAfterMs` of appending; returns its acks. */
async function runAndKill(run: number, fsync: 'always' | 'never', killAfterMs: number): Promise<Ack[]> {
  const child = spawn(
    process.execPath,
    [APPEND_LOOP, dir, TOPIC, String(PARTITIONS), fsync, String(PRODUCERS), String(run)],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  children.push(child);
  const acks: Ack[] = [];
  let buffered = '';
  let ready = false;
  child.stdout!.setEncoding('utf8');
  child.stdout!.on('data', (text: string) => {
    buffered += text;
    const lines = buffered.split('\n');
    buffered = lines.pop()!; // an incomplete last line was cut by the kill: not an acknowledgement we saw
    for (const line of lines) {
      if (line === 'ready') ready = true;
      else if (line.startsWith('ack ')) acks.push(JSON.parse(line.slice(4)) as Ack);
    }
  });
  const exited = new Promise<void>((resolve) => child.on('close', () => resolve()));
  await waitFor(() => ready && acks.length > 0, `run ${run} appending`);
  await new Promise((resolve) => setTimeout(resolve, killAfterMs)); // a random instant to crash at
  child.kill('SIGKILL');
  await exited;
  assert.equal(child.signalCode, 'SIGKILL', `run ${run} was killed, it did not fail by itself`);
  return acks;
}

/** Reads the whole topic with a reader that takes no lock. */
async function readAll(bus: EmbeddedBus): Promise<{ records: BusRecord[]; ends: Map<number, number> }> {
  const source = bus.source({ topic: TOPIC, group: 'check' });
  const ends = await source.endOffsets();
  const total = [...ends.values()].reduce((a, b) => a + b, 0);
  const records: BusRecord[] = [];
  await source.start({
    assigned: async (partitions) => new Map(partitions.map((p) => [p, 0])),
    revoked: async () => {},
    records: async (batch) => {
      records.push(...batch);
    },
  });
  await waitFor(() => records.length >= total, 'the whole log read back');
  await source.stop();
  await source.done;
  return { records, ends };
}

function check(records: readonly BusRecord[], ends: Map<number, number>, acks: readonly Ack[]): void {
  const byPartition = new Map<number, BusRecord[]>();
  for (const r of records) {
    const list = byPartition.get(r.partition) ?? [];
    list.push(r);
    byPartition.set(r.partition, list);
  }
  const where = new Map<string, { partition: number; offset: number }>();
  for (let p = 0; p < PARTITIONS; p++) {
    const list = byPartition.get(p) ?? [];
    assert.deepEqual(
      list.map((r) => r.offset),
      Array.from({ length: ends.get(p) ?? 0 }, (_, i) => i),
      `partition ${p}: offsets 0..end-1, each once`,
    );
    const lastSeq = new Map<string, number>();
    for (const r of list) {
      const id = parseCrashValue(r.value);
      assert.ok(id, `partition ${p} offset ${r.offset}: a value the appender wrote`);
      assert.ok(r.value.equals(crashValue(id.run, id.producer, id.seq)), `offset ${r.offset} intact`);
      assert.equal(r.key, crashKey(id.run, id.producer, id.seq));
      const stream = `${id.run}/${id.producer}`;
      assert.ok((lastSeq.get(stream) ?? -1) < id.seq, `producer ${stream} in order in partition ${p}`);
      lastSeq.set(stream, id.seq);
      const name = `${stream}/${id.seq}`;
      assert.ok(!where.has(name), `${name} stored once`);
      where.set(name, { partition: p, offset: r.offset });
    }
  }
  for (const ack of acks) {
    for (let seq = ack.from; seq <= ack.to; seq++) {
      assert.ok(
        where.has(`${ack.run}/${ack.producer}/${seq}`),
        `acknowledged ${ack.run}/${ack.producer}/${seq} present`,
      );
    }
    for (const [p, offset] of Object.entries(ack.last)) {
      const r = byPartition.get(Number(p))?.[offset];
      const id = r && parseCrashValue(r.value);
      assert.ok(
        id && id.run === ack.run && id.producer === ack.producer && id.seq >= ack.from && id.seq <= ack.to,
        `acknowledged offset ${p}/${offset} holds a record of that batch`,
      );
    }
  }
}

/** Partitions whose last segment ends in a torn record (the kill cut a write short). */
async function tornTails(): Promise<number> {
  let torn = 0;
  for (let p = 0; p < PARTITIONS; p++) {
    const partitionDir = path.join(dir, TOPIC, String(p));
    const base = (await listSegments(partitionDir)).at(-1);
    if (base === undefined) continue;
    const file = await open(segmentPath(partitionDir, base), 'r');
    try {
      if ((await scanSegment(file)).stoppedAt !== 'end') torn++;
    } finally {
      await file.close();
    }
  }
  return torn;
}

test('kill -9 while appending loses no acknowledged record', { timeout: 120_000 }, async (t) => {
  dir = await mkdtemp(path.join(tmpdir(), 'rtsa-embedded-crash-'));
  const acks: Ack[] = [];
  for (let run = 0; run < ROUNDS; run++) {
    const fsync = run % 2 === 0 ? 'never' : 'always';
    const roundAcks = await runAndKill(run, fsync, 20 + Math.floor(Math.random() * 400));
    acks.push(...roundAcks);
    const torn = await tornTails();
    t.diagnostic(`run ${run} (fsync=${fsync}): ${roundAcks.length} acknowledged batches, ${torn} torn tails`);
    const reader = openBus();
    const { records, ends } = await readAll(reader);
    check(records, ends, acks);
    await reader.close();
  }

  // A writer recovers the torn tails and goes on at the end of each partition.
  const bus = openBus();
  const before = await readAll(bus);
  const sink = bus.sink();
  for (let p = 0; p < PARTITIONS; p++) {
    const key = Array.from({ length: 100 }, (_, i) => `after-${i}`).find(
      (k) => partitionForKey(k, PARTITIONS) === p,
    )!;
    const last = await sink.sendWithOffsets(TOPIC, [{ key, value: crashValue(99, p, 0) }]);
    assert.equal(last.get(p), before.ends.get(p), `partition ${p} continues at its end offset`);
  }
  const afterAppend = await readAll(bus);
  for (let p = 0; p < PARTITIONS; p++) {
    assert.equal(afterAppend.ends.get(p), (before.ends.get(p) ?? 0) + 1);
  }
  await bus.close();
});

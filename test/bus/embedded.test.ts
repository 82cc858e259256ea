import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { appendFile, mkdtemp, open, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { after, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { balancePartitions } from '../../src/bus/assignment.ts';
import { loadConfig } from '../../src/config/index.ts';
import { ensureConfiguredTopic } from '../../src/runtime/bus.ts';
import { capturingLogger } from '../kafka/kafka-fixture.ts';
import { EmbeddedBus, type EmbeddedBusOptions, type EmbeddedSource } from '../../src/bus/embedded/index.ts';
import { partitionForKey } from '../../src/bus/partitioner.ts';
import { encodeRecords } from '../../src/bus/embedded/record-format.ts';
import type { BusRecord, SourceHandler, SourceOptions } from '../../src/bus/types.ts';
import { RtsaError } from '../../src/errors.ts';
import { busContract, waitFor } from './contract.ts';

const WRITER = fileURLToPath(new URL('./fixtures/writer.ts', import.meta.url));
const DAY_MS = 86_400_000;

const tempDirs: string[] = [];
const buses: EmbeddedBus[] = [];
const children: ChildProcess[] = [];

after(async () => {
  for (const child of children)
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  await Promise.allSettled(buses.map((b) => b.close()));
  await Promise.all(tempDirs.map((d) => rm(d, { recursive: true, force: true })));
});

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), 'rtsa-embedded-'));
  tempDirs.push(dir);
  return dir;
}

function openBus(dir: string, options: Partial<EmbeddedBusOptions> = {}): EmbeddedBus {
  const bus = new EmbeddedBus({
    dir,
    fsync: 'always',
    retentionMs: DAY_MS,
    segmentBytes: 64 * 1024,
    ...options,
  });
  buses.push(bus);
  return bus;
}

busContract('embedded', async () => {
  const dir = await tempDir();
  const fixture = {
    bus: openBus(dir) as EmbeddedBus,
    async reopen() {
      await fixture.bus.close();
      fixture.bus = openBus(dir);
      return fixture.bus;
    },
    async cleanup() {
      await fixture.bus.close();
    },
  };
  return fixture;
});

/** A source from `starts` that collects records; `done` of the source reports a failure. */
async function collect(
  bus: EmbeddedBus,
  topic: string,
  starts: Map<number, number> | undefined,
  extra: Partial<SourceHandler> = {},
): Promise<{ source: EmbeddedSource; records: BusRecord[] }> {
  const source = bus.source({ topic, group: 'test', idleIntervalMs: 20 });
  const records: BusRecord[] = [];
  await source.start({
    assigned: async () => starts ?? new Map(),
    revoked: async () => {},
    records: async (batch) => {
      records.push(...batch);
      await extra.records?.(batch);
    },
  });
  return { source, records };
}

function values(records: readonly BusRecord[]): string[] {
  return records.map((r) => r.value.toString());
}

async function segmentFiles(dir: string, topic: string, partition = 0): Promise<string[]> {
  return (await readdir(path.join(dir, topic, String(partition)))).filter((f) => f.endsWith('.log')).sort();
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  assert.fail('expected a rejection');
}

interface WriterChild {
  child: ChildProcess;
  pid: number;
  send(count: number, prefix: string): Promise<Record<string, number>>;
  stop(): Promise<void>;
}

/** Starts test/bus/fixtures/writer.ts: another process appending to `dir`. */
async function startWriter(dir: string, topic: string, partitions: number): Promise<WriterChild> {
  const child = spawn(process.execPath, [WRITER, dir, topic, String(partitions)], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  children.push(child);
  const lines = createInterface({ input: child.stdout! })[Symbol.asyncIterator]();
  const next = async (): Promise<string> => {
    const line = await lines.next();
    if (line.done) throw new Error('writer process ended');
    return line.value;
  };
  const ready = await next();
  assert.match(ready, /^ready \d+$/, ready);
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  return {
    child,
    pid: Number(ready.split(' ')[1]),
    async send(count, prefix) {
      child.stdin!.write(`send ${count} ${prefix}\n`);
      const line = await next();
      assert.match(line, /^sent /);
      return JSON.parse(line.slice(5)) as Record<string, number>;
    },
    async stop() {
      child.stdin!.end();
      await exited;
    },
  };
}

describe('embedded log', () => {
  test('a torn record at the end of the log is truncated on open', async (t) => {
    for (const tear of ['cut short', 'bad CRC', 'zeros']) {
      await t.test(tear, async () => {
        const dir = await tempDir();
        let bus = openBus(dir);
        await bus.ensureTopic('t', 1);
        await bus.sink().send(
          't',
          Array.from({ length: 10 }, (_, i) => ({ key: 'k', value: `v${i}` })),
        );
        await bus.close();
        const file = path.join(dir, 't', '0', '00000000000000000000.log');
        const goodSize = (await stat(file)).size;
        const frame = Buffer.from((await readFile(file)).subarray(0, goodSize / 10));
        if (tear === 'cut short') await appendFile(file, frame.subarray(0, frame.length - 3));
        if (tear === 'bad CRC') {
          frame[frame.length - 1]! ^= 0xff;
          await appendFile(file, frame);
        }
        if (tear === 'zeros') await appendFile(file, Buffer.alloc(4096));

        bus = openBus(dir);
        const reader = await collect(bus, 't', new Map([[0, 0]]));
        await waitFor(() => reader.records.length >= 10, 'the good records');
        assert.deepEqual(
          (await reader.source.endOffsets()).get(0),
          10,
          'a reader stops before the torn record',
        );
        const last = await bus.sink().sendWithOffsets('t', [{ key: 'k', value: 'after-recovery' }]);
        assert.equal(last.get(0), 10, 'appending continues at the right offset');
        await waitFor(() => reader.records.length >= 11, 'the record appended after recovery');
        assert.deepEqual(values(reader.records), [
          ...Array.from({ length: 10 }, (_, i) => `v${i}`),
          'after-recovery',
        ]);
        const recordBytes = 21 + 'k'.length + 'after-recovery'.length;
        assert.equal((await stat(file)).size, goodSize + recordBytes, 'the torn bytes are gone');
        await reader.source.stop();
        await bus.close();
      });
    }
  });

  test('a damaged record inside a sealed segment is LOG_CORRUPT naming the file', async () => {
    const dir = await tempDir();
    let bus = openBus(dir, { segmentBytes: 500 });
    await bus.ensureTopic('t', 1);
    const sink = bus.sink();
    for (let i = 0; i < 12; i++) await sink.send('t', [{ key: 'k', value: `value-${i}-${'x'.repeat(80)}` }]);
    await bus.close();
    const files = await segmentFiles(dir, 't');
    assert.ok(files.length >= 3, `several segments: ${files}`);
    const sealed = path.join(dir, 't', '0', files[0]!);
    const handle = await open(sealed, 'r+');
    await handle.write(Buffer.from('#'), 0, 1, 150); // inside the second record's value
    await handle.close();

    bus = openBus(dir, { segmentBytes: 500 });
    const reader = await collect(bus, 't', new Map([[0, 0]]));
    const error = await rejection(reader.source.done);
    assert.ok(error instanceof RtsaError);
    assert.equal(error.code, 'LOG_CORRUPT');
    assert.ok(error.message.includes(sealed), error.message);
    assert.ok(reader.records.length <= 1, 'nothing past the damage was delivered');
    await reader.source.stop();
    // The writer only recovers the last segment: appending still works.
    assert.equal((await bus.sink().sendWithOffsets('t', [{ key: 'k', value: 'more' }])).get(0), 12);
  });

  test('a second writer gets LOG_LOCKED naming the pid, readers need no lock', async () => {
    const dir = await tempDir();
    const writer = await startWriter(dir, 'events', 2);
    const last = await writer.send(5, 'from-child');
    const bus = openBus(dir);
    assert.deepEqual(await bus.ensureTopic('events', 2), { name: 'events', partitions: 2 });
    assert.throws(
      () => bus.sink(),
      (error: unknown) => {
        assert.ok(error instanceof RtsaError);
        assert.equal(error.code, 'LOG_LOCKED');
        assert.ok(error.message.includes(`pid ${writer.pid}`), error.message);
        assert.ok(error.message.includes('--api-url http://localhost:8000'), error.message);
        return true;
      },
    );
    await assert.rejects(bus.ensureTopic('other', 1), { code: 'LOG_LOCKED' });
    const reader = await collect(bus, 'events', new Map());
    const total = Object.values(last).reduce((sum, offset) => sum + offset + 1, 0);
    await waitFor(() => reader.records.length >= total, 'records of the other process');
    await reader.source.stop();

    await writer.stop();
    await bus.sink().send('events', [{ key: 'k', value: 'mine now' }]);
    const lock = JSON.parse(await readFile(path.join(dir, 'writer.lock'), 'utf8'));
    assert.equal(lock.pid, process.pid);
    await bus.close();
    await assert.rejects(stat(path.join(dir, 'writer.lock')), { code: 'ENOENT' }, 'close releases the lock');
  });

  test('a topic creation waits out a brief hold of the writer lock by another process', async () => {
    // Roles started together on a fresh folder: one creates its topics while the other starts.
    const dir = await tempDir();
    const first = openBus(dir);
    first.sink();
    const second = openBus(dir);
    const waiting = second.ensureTopic('made-by-first', 1);
    await new Promise((resolve) => setTimeout(resolve, 200));
    await first.ensureTopic('made-by-first', 3);
    await first.close();
    assert.deepEqual(await waiting, { name: 'made-by-first', partitions: 3 }, 'the topic the other made');
    assert.deepEqual(await second.ensureTopic('mine', 2), { name: 'mine', partitions: 2 });
    await second.close();
  });

  test('a second EmbeddedBus in the same process cannot write either', async () => {
    const dir = await tempDir();
    const first = openBus(dir);
    await first.ensureTopic('t', 1);
    first.sink();
    assert.throws(() => openBus(dir).sink(), { code: 'LOG_LOCKED' });
    await first.close();
    openBus(dir).sink();
  });

  test('creating a topic takes the lock for the creation only: a reader that made it lets others write', async () => {
    const dir = await tempDir();
    const reader = openBus(dir);
    await reader.ensureTopic('t', 2);
    await assert.rejects(stat(path.join(dir, 'writer.lock')), { code: 'ENOENT' }, 'the lock was let go');
    // A producer (here another bus; `rtsa produce` beside `rtsa lake`) appends, the reader reads it.
    const writer = openBus(dir);
    await writer.sink().send('t', [{ key: 'k', value: 'from the producer' }]);
    const seen = await collect(reader, 't', new Map());
    await waitFor(() => seen.records.length === 1, "the producer's record");
    await seen.source.stop();
    // A process that has written keeps the lock through later topic creations.
    await writer.ensureTopic('u', 1);
    assert.throws(() => reader.sink(), { code: 'LOG_LOCKED' });
    await writer.close();
    await reader.close();
  });

  test('a stale lock (its process is gone) is taken over', async () => {
    const dir = await tempDir();
    const gone = spawn(process.execPath, ['-e', '']);
    children.push(gone);
    const deadPid = gone.pid!;
    await new Promise((resolve) => gone.on('exit', resolve));
    await writeFile(
      path.join(dir, 'writer.lock'),
      JSON.stringify({ pid: deadPid, host: 'x', since: new Date().toISOString(), token: 'old' }),
    );
    const bus = openBus(dir);
    await bus.ensureTopic('t', 1);
    await bus.sink().send('t', [{ key: 'k', value: 'v' }]);
    const lock = JSON.parse(await readFile(path.join(dir, 'writer.lock'), 'utf8'));
    assert.equal(lock.pid, process.pid);
    assert.notEqual(lock.token, 'old');
  });

  test('segments roll at segmentBytes and retention deletes old sealed segments, never the active one', async () => {
    const dir = await tempDir();
    let now = 0;
    const options = { segmentBytes: 500, retentionMs: 1000, clock: () => now };
    const value = (i: number) => `${String(i).padStart(3, '0')}${'r'.repeat(97)}`; // 122-byte records: 4 per segment
    let bus = openBus(dir, options);
    await bus.ensureTopic('t', 1);
    let sink = bus.sink();
    for (let i = 0; i < 10; i++) await sink.send('t', [{ key: 'k', value: value(i) }]);
    const name = (base: number) => `${String(base).padStart(20, '0')}.log`;
    assert.deepEqual(await segmentFiles(dir, 't'), [name(0), name(4), name(8)]);
    for (const f of await segmentFiles(dir, 't')) {
      assert.ok((await stat(path.join(dir, 't', '0', f))).size <= 500);
    }
    await bus.close();

    // Open long after: the sealed segments are past retention, the active one stays however old.
    now = 100_000;
    bus = openBus(dir, options);
    assert.equal((await segmentFiles(dir, 't')).length, 3, 'readers delete nothing');
    sink = bus.sink();
    await sink.send('t', [{ key: 'k', value: value(10) }]);
    assert.deepEqual(await segmentFiles(dir, 't'), [name(8)]);

    const truncated = bus.source({ topic: 't', group: 'g' });
    const error = await rejection(
      truncated.start({
        assigned: async () => new Map([[0, 3]]),
        revoked: async () => {},
        records: async () => {},
      }),
    );
    assert.ok(error instanceof RtsaError);
    assert.equal(error.code, 'LOG_TRUNCATED');
    assert.match(error.message, /offset 3 is no longer in the log.*before offset 8/);
    await assert.rejects(truncated.done, { code: 'LOG_TRUNCATED' });

    const reader = await collect(bus, 't', new Map([[0, 8]]));
    await waitFor(() => reader.records.length >= 3, 'the retained records');
    assert.deepEqual(values(reader.records), [value(8), value(9), value(10)]);
    assert.deepEqual(
      reader.records.map((r) => r.offset),
      [8, 9, 10],
    );

    // A roll checks retention again: segment 8 now holds a recent record, so it stays...
    await sink.send('t', [{ key: 'k', value: value(11) }]);
    await sink.send('t', [{ key: 'k', value: value(12) }]);
    assert.deepEqual(await segmentFiles(dir, 't'), [name(8), name(12)]);
    // ...until that record is old too.
    now = 200_000;
    for (let i = 13; i <= 16; i++) await sink.send('t', [{ key: 'k', value: value(i) }]);
    assert.deepEqual(await segmentFiles(dir, 't'), [name(12), name(16)]);
    await waitFor(() => reader.records.length >= 17 - 8, 'records across rolls');
    assert.deepEqual(
      reader.records.map((r) => r.offset),
      Array.from({ length: 9 }, (_, i) => 8 + i),
    );
    await reader.source.stop();
  });

  test('records larger than the read chunk and the segment size round-trip', async () => {
    const dir = await tempDir();
    const bus = openBus(dir, { segmentBytes: 1024 * 1024 });
    await bus.ensureTopic('t', 1);
    const big = randomBytes(6 * 1024 * 1024);
    await bus.sink().send('t', [
      { key: 'small', value: 'before' },
      { key: 'big', value: big },
      { key: 'small', value: 'after' },
    ]);
    const reader = await collect(bus, 't', new Map([[0, 0]]));
    await waitFor(() => reader.records.length >= 3, 'records delivered');
    assert.equal(reader.records[0]!.value.toString(), 'before');
    assert.ok(reader.records[1]!.value.equals(big));
    assert.equal(reader.records[2]!.value.toString(), 'after');
    await reader.source.stop();
  });

  test('a start offset past the end starts at the end', async () => {
    const dir = await tempDir();
    const bus = openBus(dir);
    await bus.ensureTopic('t', 1);
    const sink = bus.sink();
    await sink.send('t', [{ key: 'k', value: 'old' }]);
    const reader = await collect(bus, 't', new Map([[0, 1000]]));
    await sink.send('t', [{ key: 'k', value: 'new' }]);
    await waitFor(() => reader.records.length >= 1, 'the new record');
    assert.deepEqual(values(reader.records), ['new']);
    assert.equal(reader.records[0]!.offset, 1);
    await reader.source.stop();
  });

  test('an error thrown by the handler stops the source and rejects done', async () => {
    const dir = await tempDir();
    const bus = openBus(dir);
    await bus.ensureTopic('t', 1);
    await bus.sink().send('t', [{ key: 'k', value: 'poison' }]);
    const reader = await collect(bus, 't', new Map([[0, 0]]), {
      records: async () => {
        throw new Error('handler failed');
      },
    });
    await assert.rejects(reader.source.done, /handler failed/);
    await reader.source.stop();
  });

  test('a reader in this process sees records appended by another process', async () => {
    const dir = await tempDir();
    const writer = await startWriter(dir, 'feed', 3);
    const bus = openBus(dir);
    const reader = await collect(bus, 'feed', new Map());
    const last = await writer.send(50, 'a');
    let expected = Object.values(last).reduce((sum, offset) => sum + offset + 1, 0);
    await waitFor(() => reader.records.length >= expected, 'first records from the other process');
    await writer.send(30, 'b');
    expected += 30;
    await waitFor(() => reader.records.length >= expected, 'more records from the other process');
    assert.equal(reader.records.length, 80);
    const ends = await reader.source.endOffsets();
    for (const [p, end] of ends) {
      const offsets = reader.records.filter((r) => r.partition === p).map((r) => r.offset);
      assert.deepEqual(
        offsets,
        Array.from({ length: end }, (_, i) => i),
      );
    }
    await reader.source.stop();
    await writer.stop();
  });
});

/** A member of group `g` reading `topic` from the start, keeping what it was assigned and read. */
async function startMember(bus: EmbeddedBus, topic: string, member: SourceOptions['member']) {
  const assigned: number[] = [];
  const records: BusRecord[] = [];
  const source = bus.source({ topic, group: 'g', idleIntervalMs: 20, member });
  await source.start({
    assigned: async (partitions) => {
      assigned.push(...partitions);
      return new Map();
    },
    revoked: async () => {},
    records: async (batch) => {
      records.push(...batch);
    },
  });
  return { source, assigned, records };
}

describe('embedded log: several readers in one process (processor threads)', () => {
  test('members split the partitions: p % count === index, every record once', async () => {
    const dir = await tempDir();
    const bus = openBus(dir, { fsync: 'never' });
    await bus.ensureTopic('split', 5);
    const sink = bus.sink();
    await sink.send(
      'split',
      Array.from({ length: 200 }, (_, i) => ({ key: `k${i}`, value: `v${i}` })),
    );
    const members = await Promise.all([0, 1].map((index) => startMember(bus, 'split', { index, count: 2 })));
    await waitFor(() => members[0]!.records.length + members[1]!.records.length >= 200, 'every record');
    assert.deepEqual(members[0]!.assigned, [0, 2, 4]);
    assert.deepEqual(members[1]!.assigned, [1, 3]);
    for (const [index, m] of members.entries()) {
      assert.ok(m.records.every((r) => r.partition % 2 === index));
    }
    assert.deepEqual(
      [...members[0]!.records, ...members[1]!.records].map((r) => r.value.toString()).sort(),
      Array.from({ length: 200 }, (_, i) => `v${i}`).sort(),
    );
    for (const m of members) await m.source.stop();
    assert.throws(() => bus.source({ topic: 'split', group: 'g', member: { index: 2, count: 2 } }), /member/);
  });

  test('members dealt partitions by size: the busy partitions on different members, every record once', async () => {
    const dir = await tempDir();
    const bus = openBus(dir, { fsync: 'never' });
    await bus.ensureTopic('skewed', 4);
    // Keys chosen by partition: 0 and 2 hold 300 records each, 1 and 3 hold 50 and 100. Dealt by
    // number (p % 2) one member would get 0 and 2 (600 records) and the other 1 and 3 (150); by
    // size each busy partition goes to its own member (350 and 400).
    const keyOf = new Map<number, string>();
    for (let i = 0; keyOf.size < 4; i++) {
      const p = partitionForKey(`k${i}`, 4);
      if (!keyOf.has(p)) keyOf.set(p, `k${i}`);
    }
    const counts = [300, 50, 300, 100];
    await bus.sink().send(
      'skewed',
      counts.flatMap((n, p) =>
        Array.from({ length: n }, (_, i) => ({ key: keyOf.get(p)!, value: `p${p}-${i}` })),
      ),
    );
    const bytes = await bus.partitionBytes('skewed');
    assert.equal(bytes.length, 4);
    assert.ok(
      bytes[0] === bytes[2] && bytes[2]! > bytes[3]! && bytes[3]! > bytes[1]!,
      `sizes follow the records: ${bytes}`,
    );
    const dealt = balancePartitions(bytes, 2);
    assert.deepEqual(dealt, [
      [0, 3],
      [1, 2],
    ]);
    const members = await Promise.all(
      dealt.map((partitions, index) => startMember(bus, 'skewed', { index, count: 2, partitions })),
    );
    await waitFor(() => members[0]!.records.length + members[1]!.records.length >= 750, 'every record');
    for (const [index, m] of members.entries()) {
      assert.deepEqual(m.assigned, dealt[index]);
      assert.ok(m.records.every((r) => dealt[index]!.includes(r.partition)));
    }
    const sizes = members.map((m) => m.records.length).sort((a, b) => a - b);
    assert.deepEqual(sizes, [350, 400]);
    for (const m of members) await m.source.stop();
    assert.throws(
      () => bus.source({ topic: 'skewed', group: 'g', member: { index: 0, count: 2, partitions: [-1] } }),
      /member.partitions/,
    );
  });

  test('a reader through the shared view wakes on appends and never reads past what is durable', async () => {
    const dir = await tempDir();
    const writer = openBus(dir, { fsync: 'never' });
    await writer.ensureTopic('shared', 1);
    const buffer = await writer.shareTopic('shared');
    // Polling and idle calls would find new records by themselves within a minute: only the
    // shared view's wake-up makes them arrive sooner.
    const reader = openBus(dir, { sharedViews: { shared: buffer }, pollIntervalMs: 60_000 });
    const plain = openBus(dir, { pollIntervalMs: 10 });
    const records: BusRecord[] = [];
    const source = reader.source({ topic: 'shared', group: 'g', idleIntervalMs: 60_000 });
    await source.start({
      assigned: async () => new Map(),
      revoked: async () => {},
      records: async (batch) => {
        records.push(...batch);
      },
    });
    const other = await collect(plain, 'shared', new Map());
    const sink = writer.sink();
    await sink.send('shared', [{ key: 'a', value: 'one' }]);
    await waitFor(() => records.length === 1, 'the appended record, woken by the shared view', 5_000);
    // A complete record in the file that the writer has not reported durable (as while a write
    // and its fdatasync are in flight): a reader in another process may see it, this one must not.
    const [segment] = await segmentFiles(dir, 'shared');
    const torn = encodeRecords([{ key: 'b', value: 'not yet durable' }], Date.now());
    await appendFile(path.join(dir, 'shared', '0', segment!), torn.buf);
    await waitFor(() => other.records.length === 2, 'the other-process reader sees the complete frame');
    await new Promise((r) => setTimeout(r, 300));
    assert.deepEqual(values(records), ['one']);
    const ends = await source.endOffsets();
    assert.equal(ends.get(0), 1, 'the end offset is the durable one');
    await source.stop();
    await other.source.stop();
  });
});

test('RTSA_PARTITIONS given for a topic that exists with another count is said, not silently ignored', async () => {
  const dir = await mkdtemp(path.join(tmpdir(), 'rtsa-partitions-'));
  const { logger, lines } = capturingLogger();
  const bus = new EmbeddedBus({ dir, fsync: 'never', retentionMs: 86_400_000, segmentBytes: 1 << 20 });
  try {
    const at = (partitions: string[]) => loadConfig('process', partitions, {}).config;
    assert.equal(
      (await ensureConfiguredTopic(at(['--partitions', '4']), bus, 'p.topic', logger)).partitions,
      4,
    );
    assert.equal((await ensureConfiguredTopic(at([]), bus, 'p.topic', logger)).partitions, 4);
    assert.equal(lines().length, 0, 'no word when nothing was asked, or the same');
    assert.equal(
      (await ensureConfiguredTopic(at(['--partitions', '8']), bus, 'p.topic', logger)).partitions,
      4,
    );
    assert.match(
      String(lines()[0]?.msg),
      /topic p\.topic has 4 partition\(s\), not the 8 of RTSA_PARTITIONS/,
    );
  } finally {
    await bus.close();
    await rm(dir, { recursive: true, force: true });
  }
});

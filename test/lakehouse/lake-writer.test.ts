/**
 * The lake writers' exactly-once protocol (src/lakehouse/lake-writer) on real parts: the embedded
 * log, a real Postgres, a local folder and a real S3 server. A test layer writes one NDJSON file
 * per commit, so what is checked is the protocol, not Parquet: every record lands in exactly one
 * visible file, a reader never sees an uncommitted file, a crash at each step of a commit
 * (after staging, after the Postgres commit, in the middle of the moves) loses and doubles
 * nothing once another writer takes over, and a fenced writer commits nothing.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { EmbeddedBus } from '../../src/bus/embedded/index.ts';
import type { BusRecord } from '../../src/bus/types.ts';
import { FencedError } from '../../src/errors.ts';
import { LakeCommitLog, type WriterClaim } from '../../src/lakehouse/lake-writer/commit-log.ts';
import { type Layer, type LayerPartition, LakeWriter } from '../../src/lakehouse/lake-writer/lake-writer.ts';
import { type LakeStore, STAGING_PREFIX } from '../../src/lakehouse/lake-store/lake-store.ts';
import { LocalLakeStore } from '../../src/lakehouse/lake-store/local-store.ts';
import { S3LakeStore } from '../../src/lakehouse/lake-store/s3-store.ts';
import { silentLogger } from '../../src/telemetry/logger.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/postgres.ts';
import { s3Unavailable, startS3Server, type S3Server } from './s3-server.ts';

const TOPIC = 'events_raw';
const PARTITIONS = 2;

/** One NDJSON file per commit and partition, `test/p<partition>/<first>-<last>.ndjson`. */
function ndjsonLayer(name = 'test'): Layer {
  return {
    name,
    open(claim: WriterClaim): LayerPartition {
      let lines: string[] = [];
      let first: number | undefined;
      let last = -1;
      return {
        ingest(record: BusRecord) {
          first ??= record.offset;
          last = record.offset;
          lines.push(JSON.stringify({ p: record.partition, o: record.offset, v: record.value.toString() }));
        },
        get pending() {
          return lines.length > 0;
        },
        take() {
          const body = `${lines.join('\n')}\n`;
          const files =
            lines.length === 0
              ? []
              : [
                  {
                    key: `${name}/p${claim.partition}/${first}-${last}.ndjson`,
                    bytes: Buffer.from(body),
                    rows: lines.length,
                  },
                ];
          lines = [];
          first = undefined;
          return { files };
        },
      };
    },
  };
}

/** A store that fails (as a crash would stop the process) at a chosen call. */
class CrashingStore implements LakeStore {
  readonly location: string;
  private readonly inner: LakeStore;
  crashOn: { op: 'put' | 'move'; after: number } | undefined;
  private counts = { put: 0, move: 0 };

  constructor(inner: LakeStore) {
    this.inner = inner;
    this.location = inner.location;
  }

  private maybeCrash(op: 'put' | 'move'): void {
    this.counts[op]++;
    if (this.crashOn?.op === op && this.counts[op] > this.crashOn.after)
      throw new Error(`simulated crash in ${op}`);
  }

  async put(key: string, bytes: Uint8Array) {
    this.maybeCrash('put');
    return this.inner.put(key, bytes);
  }
  get(key: string) {
    return this.inner.get(key);
  }
  exists(key: string) {
    return this.inner.exists(key);
  }
  list(prefix: string) {
    return this.inner.list(prefix);
  }
  async move(from: string, to: string) {
    this.maybeCrash('move');
    return this.inner.move(from, to);
  }
  delete(keys: readonly string[]) {
    return this.inner.delete(keys);
  }
  close() {
    return this.inner.close();
  }
}

/** `store` with its own `put`. */
function withPut(store: LakeStore, put: LakeStore['put']): LakeStore {
  return {
    location: store.location,
    put,
    get: (key) => store.get(key),
    exists: (key) => store.exists(key),
    list: (prefix) => store.list(prefix),
    move: (from, to) => store.move(from, to),
    delete: (keys) => store.delete(keys),
    close: () => store.close(),
  };
}

/** What a reader sees: every visible file's records, and the staged ones it must not see. */
async function readLake(store: LakeStore, layer = 'test'): Promise<{ seen: string[]; staged: string[] }> {
  const seen: string[] = [];
  for (const key of await store.list(`${layer}/`)) {
    const text = (await store.get(key))?.toString() ?? '';
    for (const line of text.split('\n')) if (line !== '') seen.push(line);
  }
  return { seen: seen.sort(), staged: await store.list(STAGING_PREFIX) };
}

/**
 * Feeds the records to `writer` as a Source would: from where it asks per partition, in offset
 * order per partition, batches mixing the partitions (so one commit spans both).
 */
async function drive(writer: LakeWriter, records: readonly BusRecord[]): Promise<void> {
  const starts = await writer.assigned([...Array(PARTITIONS).keys()]);
  const todo = records
    .filter((r) => r.offset >= (starts.get(r.partition) ?? 0))
    .sort((a, b) => a.offset - b.offset || a.partition - b.partition);
  for (let i = 0; i < todo.length; i += 7) await writer.records(todo.slice(i, i + 7));
}

async function allRecords(bus: EmbeddedBus): Promise<BusRecord[]> {
  const out: BusRecord[] = [];
  const source = bus.source({ topic: TOPIC, group: `read-${Math.random()}` });
  const ends = await source.endOffsets();
  const total = [...ends.values()].reduce((a, b) => a + b, 0);
  await source.start({
    assigned: async (ps) => new Map(ps.map((p) => [p, 0])),
    revoked: async () => {},
    records: async (batch) => {
      out.push(...batch);
    },
  });
  const deadline = Date.now() + 10_000;
  while (out.length < total) {
    assert.ok(Date.now() < deadline, 'reading the topic back');
    await new Promise((r) => setTimeout(r, 10));
  }
  await source.stop();
  return out;
}

function expectedLines(records: readonly BusRecord[]): string[] {
  return records.map((r) => JSON.stringify({ p: r.partition, o: r.offset, v: r.value.toString() })).sort();
}

function protocolSuite(name: string, openStore: () => Promise<LakeStore>, skip?: string) {
  describe(name, { skip }, () => {
    let db: TestDatabase;
    let dir: string;
    let bus: EmbeddedBus;
    let records: BusRecord[];

    before(async () => {
      db = await createTestDatabase('lake');
      dir = await mkdtemp(path.join(tmpdir(), 'rtsa-lake-'));
      bus = new EmbeddedBus({
        dir: path.join(dir, 'log'),
        fsync: 'never',
        retentionMs: 86_400_000,
        segmentBytes: 1 << 20,
      });
      await bus.ensureTopic(TOPIC, PARTITIONS);
      const sink = bus.sink();
      for (let i = 0; i < 400; i++) await sink.send(TOPIC, [{ key: `user-${i % 13}`, value: `event ${i}` }]);
      records = await allRecords(bus);
    });

    after(async () => {
      await bus?.close();
      await db?.drop();
      await rm(dir, { recursive: true, force: true });
    });

    const writerOn = (store: LakeStore, layer: Layer, log: LakeCommitLog, owner = 'test') =>
      new LakeWriter({
        layer,
        store,
        log,
        owner,
        flushIntervalMs: 0,
        maxBatchRecords: 50,
        logger: silentLogger(),
      });

    test('every record in exactly one visible file; nothing left staged', async () => {
      const store = await openStore();
      const log = new LakeCommitLog(db.pool, 'once', TOPIC);
      const writer = writerOn(store, ndjsonLayer('once'), log);
      await drive(writer, records);
      await writer.close();
      const lake = await readLake(store, 'once');
      assert.deepEqual(lake.seen, expectedLines(records));
      assert.deepEqual(lake.staged, []);
      const files = await log.files();
      assert.ok(files.length >= records.length / 50, 'committed in several commits');
      assert.equal(
        files.reduce((n, f) => n + f.rows, 0),
        records.length,
      );
      await store.close();
    });

    for (const crash of [
      { what: 'after staging, before the commit', on: { op: 'put' as const, after: 3 } },
      { what: 'after the commit, before any move', on: { op: 'move' as const, after: 0 } },
      { what: 'between two moves of one commit', on: { op: 'move' as const, after: 3 } },
    ]) {
      test(`a crash ${crash.what}: the next writer loses and doubles nothing`, async () => {
        const layerName = `crash${crash.on.op}${crash.on.after}`;
        const inner = await openStore();
        const crashing = new CrashingStore(inner);
        crashing.crashOn = crash.on;
        const log = new LakeCommitLog(db.pool, layerName, TOPIC);
        const first = writerOn(crashing, ndjsonLayer(layerName), log, 'first');
        await assert.rejects(drive(first, records), /simulated crash/);
        // The crashed writer is gone; what it left is either staged or committed-and-staged.
        const mid = await readLake(inner, layerName);
        assert.ok(mid.staged.length > 0, 'the crash left staged files');
        const committed = new Set((await log.files()).map((f) => f.key));
        for (const line of mid.seen) assert.ok(line, 'visible files hold complete lines');
        for (const key of await inner.list(`${layerName}/`))
          assert.ok(committed.has(key), `${key} is visible but not committed`);

        const second = writerOn(inner, ndjsonLayer(layerName), log, 'second');
        await drive(second, records);
        await second.close();
        const lake = await readLake(inner, layerName);
        assert.deepEqual(lake.seen, expectedLines(records));
        assert.deepEqual(lake.staged, []);
        await inner.close();
      });
    }

    test('a fenced writer commits nothing; the new owner finishes the partition', async () => {
      const store = await openStore();
      const log = new LakeCommitLog(db.pool, 'fence', TOPIC);
      const zombie = writerOn(store, ndjsonLayer('fence'), log, 'zombie');
      const starts = await zombie.assigned([0]);
      assert.equal(starts.get(0), 0);
      const owner = writerOn(store, ndjsonLayer('fence'), log, 'owner');
      await owner.assigned([0]);
      // The zombie still has records to write: its commit is refused, nothing becomes visible.
      await zombie.records(records.filter((r) => r.partition === 0).slice(0, 60));
      // Its commits' I/O runs in the background: close waits for it (and commits the rest).
      await zombie.close();
      assert.deepEqual((await readLake(store, 'fence')).seen, []);
      assert.deepEqual(await log.files(), []);
      await owner.records(records.filter((r) => r.partition === 0));
      await owner.close();
      const lake = await readLake(store, 'fence');
      assert.deepEqual(lake.seen, expectedLines(records.filter((r) => r.partition === 0)));
      await store.close();
    });

    test('a writer frozen between its claim and its clean-up deletes nothing of the newer owner', async () => {
      const inner = await openStore();
      const log = new LakeCommitLog(db.pool, 'zrec', TOPIC);
      // The zombie claims partition 0, then freezes before it lists its staging folder.
      let release!: () => void;
      const gate = new Promise<void>((resolve) => {
        release = resolve;
      });
      let listing!: () => void;
      const listed = new Promise<void>((resolve) => {
        listing = resolve;
      });
      const frozen: LakeStore = {
        ...withPut(inner, (key, bytes) => inner.put(key, bytes)),
        list: async (prefix) => {
          listing();
          await gate;
          return inner.list(prefix);
        },
      };
      const zombie = writerOn(frozen, ndjsonLayer('zrec'), log, 'zombie');
      const zombieStarting = zombie.assigned([0]);
      await listed;
      // Meanwhile the partition moves on: the new owner commits, then stops before its moves.
      const crashing = new CrashingStore(inner);
      crashing.crashOn = { op: 'move', after: 0 };
      const owner = writerOn(crashing, ndjsonLayer('zrec'), log, 'owner');
      await owner.assigned([0]);
      const part0 = records.filter((r) => r.partition === 0);
      await assert.rejects(
        (async () => {
          await owner.records(part0.slice(0, 60));
          await owner.close();
        })(),
        /simulated crash/,
      );
      assert.ok((await log.files()).length > 0, 'the owner committed files still staged');
      // The zombie wakes up: its clean-up must leave the newer epoch's staged files alone.
      release();
      await zombieStarting;
      const next = writerOn(inner, ndjsonLayer('zrec'), log, 'next');
      await next.assigned([0]);
      await next.records(part0);
      await next.close();
      const lake = await readLake(inner, 'zrec');
      assert.deepEqual(lake.seen, expectedLines(part0));
      await inner.close();
    });

    test("a commit's files are written while the next records come in; the next commit waits for them", async () => {
      const inner = await openStore();
      let release!: () => void;
      const gate = new Promise<void>((resolve) => {
        release = resolve;
      });
      const puts: string[] = [];
      const gated = withPut(inner, async (key, bytes) => {
        puts.push(key);
        await gate;
        await inner.put(key, bytes);
      });
      const log = new LakeCommitLog(db.pool, 'pipe', TOPIC);
      const writer = writerOn(gated, ndjsonLayer('pipe'), log);
      await writer.assigned([0, 1]);
      const fed = [...records].sort((a, b) => a.offset - b.offset || a.partition - b.partition).slice(0, 100);
      // 50 records: a commit is due; records() returns with its files still being staged.
      await writer.records(fed.slice(0, 50));
      assert.ok(puts.length > 0, 'staging started');
      assert.deepEqual(await log.files(), [], 'not committed yet');
      // The next commit waits for the first one's I/O.
      let second = false;
      const next = writer.records(fed.slice(50)).then(() => {
        second = true;
      });
      await new Promise((r) => setTimeout(r, 100));
      assert.equal(second, false, 'the next commit waits');
      release();
      await next;
      await writer.close();
      const lake = await readLake(inner, 'pipe');
      assert.deepEqual(lake.seen, expectedLines(fed));
      assert.deepEqual(lake.staged, []);
      await inner.close();
    });

    test('a read batch larger than the max batch is committed in commits of at most the max', async () => {
      const store = await openStore();
      const log = new LakeCommitLog(db.pool, 'bounded', TOPIC);
      const writer = writerOn(store, ndjsonLayer('bounded'), log);
      await writer.assigned([0, 1]);
      const part0 = records.filter((r) => r.partition === 0).slice(0, 130);
      await writer.records(part0);
      await writer.close();
      const files = await log.files();
      assert.deepEqual(
        files.map((f) => f.rows),
        [50, 50, 30],
        'one file per commit of partition 0, none above 50',
      );
      const lake = await readLake(store, 'bounded');
      assert.deepEqual(lake.seen, expectedLines(part0));
      await store.close();
    });

    test('a source that has caught up commits a tenth of a batch at once; less waits for the interval', async () => {
      const inner = await openStore();
      let puts = 0;
      const store = withPut(inner, async (key, bytes) => {
        puts++;
        await inner.put(key, bytes);
      });
      const log = new LakeCommitLog(db.pool, 'caught', TOPIC);
      let now = 1_000_000;
      const writer = new LakeWriter({
        layer: ndjsonLayer('caught'),
        store,
        log,
        owner: 'test',
        flushIntervalMs: 3_600_000,
        maxBatchRecords: 100,
        logger: silentLogger(),
        clock: () => now,
      });
      await writer.assigned([0, 1]);
      const fed = [...records].sort((a, b) => a.offset - b.offset || a.partition - b.partition).slice(0, 10);
      // 9 records (under a tenth of 100), then nothing more to read: they wait for the interval.
      await writer.records(fed.slice(0, 9));
      now += 500;
      await writer.idle();
      await new Promise((r) => setTimeout(r, 50));
      assert.equal(puts, 0, 'nine records wait for the flush interval');
      // A tenth of a batch, then the source is idle: committed without waiting for the hour.
      await writer.records(fed.slice(9));
      assert.equal(puts, 0, 'records() alone does not commit before the interval');
      now += 500;
      await writer.idle();
      assert.ok(puts > 0, 'committed once caught up');
      const deadline = Date.now() + 10_000;
      while ((await log.files()).reduce((n, f) => n + f.rows, 0) < 10) {
        assert.ok(Date.now() < deadline, 'the commit lands');
        await new Promise((r) => setTimeout(r, 10));
      }
      await writer.close();
      const lake = await readLake(inner, 'caught');
      assert.deepEqual(lake.seen, expectedLines(fed));
      await inner.close();
    });

    test('a commit whose I/O fails for good: the next call throws it, nothing half-visible', async () => {
      const inner = await openStore();
      const broken = withPut(inner, async () => {
        throw new Error('store refuses the file');
      });
      const log = new LakeCommitLog(db.pool, 'broken', TOPIC);
      const writer = writerOn(broken, ndjsonLayer('broken'), log);
      await writer.assigned([0, 1]);
      const fed = [...records].sort((a, b) => a.offset - b.offset || a.partition - b.partition);
      await writer.records(fed.slice(0, 50));
      await assert.rejects(writer.records(fed.slice(50, 100)), /store refuses the file/);
      assert.deepEqual(await log.files(), []);
      assert.deepEqual((await readLake(inner, 'broken')).seen, []);
      await inner.close();
    });

    test('the commit log refuses a stale epoch with the partitions named', async () => {
      const log = new LakeCommitLog(db.pool, 'epoch', TOPIC);
      const a = await log.claim(1, 'a');
      await log.claim(1, 'b');
      await assert.rejects(
        log.commit([
          {
            partition: 1,
            epoch: a.epoch,
            firstOffset: 0,
            lastOffset: 0,
            committedOffset: 1,
            replayOffset: 1,
            state: null,
            files: [],
          },
        ]),
        (error: unknown) => error instanceof FencedError && error.partitions.includes(1),
      );
    });
  });
}

let s3: S3Server | undefined;
const s3Skip = s3Unavailable();

/** Local lake folders the suite made, removed at the end. */
const localRoots: string[] = [];
after(async () => {
  for (const root of localRoots) await rm(root, { recursive: true, force: true });
});

protocolSuite('lake writer on a local folder', async () => {
  const root = await mkdtemp(path.join(tmpdir(), 'rtsa-lake-store-'));
  localRoots.push(root);
  return new LocalLakeStore(root);
});

describe('lake writer on S3', { skip: s3Skip }, () => {
  before(async () => {
    s3 = await startS3Server();
  });
  after(async () => {
    await s3?.stop();
  });
  let n = 0;
  protocolSuite('s3proxy', async () => {
    const server = s3 as S3Server;
    return new S3LakeStore({
      bucket: server.bucket,
      prefix: `lake-${n++}`,
      endpoint: server.endpoint,
      accessKeyId: server.accessKeyId,
      secretAccessKey: server.secretAccessKey,
    });
  });
});

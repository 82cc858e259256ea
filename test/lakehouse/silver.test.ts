/**
 * Silver against a batch oracle of its contract: commerce events with out-of-order arrival inside
 * the allowed lateness, duplicates, the seed's five bad-data kinds, late events, and users whose
 * sessions split or merge around the 30-minute gap, in two partitions, through a stop and a crash
 * in the middle. DuckDB reads silver events, silver sessions and the dead letters back; they must
 * equal what the oracle computes from the records in log order.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { zstdDecompressSync } from 'node:zlib';
import { after, before, test } from 'node:test';
import fc from 'fast-check';
import { parquetReadObjects } from 'hyparquet';
import type { BusRecord } from '../../src/bus/types.ts';
import { parseCommerceEvent } from '../../src/events/commerce-event.ts';
import { createCommerceHistory } from '../../src/generator/commerce/index.ts';
import { LocalLakeStore } from '../../src/lakehouse/lake-store/index.ts';
import { LakeCommitLog } from '../../src/lakehouse/lake-writer/commit-log.ts';
import { type LayerFile, LakeWriter } from '../../src/lakehouse/lake-writer/lake-writer.ts';
import { openDuckDB, sqlString } from '../../src/lakehouse/parquet/duckdb.ts';
import {
  SILVER_EVENTS_PATH,
  SILVER_RULES,
  sessionIdOf,
  silverLayer,
} from '../../src/lakehouse/silver/silver-layer.ts';
import { silentLogger } from '../../src/telemetry/logger.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/postgres.ts';

const MIN = 60_000_000; // µs
const LATENESS_MS = 10 * 60_000;
const GAP_MS = 30 * 60_000;
const TOPIC = 'events_raw';

let db: TestDatabase;
let root: string;
before(async () => {
  db = await createTestDatabase('silver');
  root = await mkdtemp(path.join(tmpdir(), 'rtsa-silver-'));
});
after(async () => {
  await db?.drop();
  await rm(root, { recursive: true, force: true });
});

/** A clean event of `user` at `micros`, as the generator writes them. */
function event(user: string, micros: number, type: 'page_view' | 'purchase' = 'page_view'): Buffer {
  const payload =
    type === 'purchase'
      ? {
          transaction_id: `TXN-${randomUUID()}`,
          product_id: 'PROD-1',
          quantity: 2,
          unit_price: 10,
          total_amount: 20,
          currency: 'EUR',
        }
      : { page_url: 'https://example.com/', session_id: 'x' };
  return Buffer.from(
    JSON.stringify({
      event_id: randomUUID(),
      idempotency_key: randomUUID(),
      user_id: user,
      timestamp: new Date(micros / 1000).toISOString(),
      event_type: type,
      device_type: 'mobile',
      ip_address: '10.0.0.1',
      schema_version: 'v1',
      payload,
    }),
  );
}

interface Msg {
  key: string;
  value: Buffer;
  micros: number;
}

/** The traffic: generated history, gap-edge users, duplicates, late events, reordered within the lateness. */
function traffic(): Msg[] {
  const base = Date.UTC(2025, 11, 1, 8) * 1000;
  const generated: Msg[] = createCommerceHistory({
    seed: 21,
    users: 40,
    from: '2025-12-01',
    to: '2025-12-01',
    eventsPerDay: 1_500,
    badDataPercentage: 6,
  })
    .take(1_500)
    .map((m) => ({ key: m.key, value: m.value, micros: m.timestampMicros }));
  // Sessions around the gap: 29:59 apart stays one session, exactly 30:00 apart splits.
  const edge: Msg[] = [];
  for (const [user, gaps] of [
    ['edge-a', [0, 29 * MIN + 59_000_000, 29 * MIN + 59_000_000]],
    ['edge-b', [0, 30 * MIN, 5 * MIN]],
    ['edge-c', [0, 45 * MIN, 1 * MIN]],
  ] as const) {
    let t = base + 60 * MIN;
    for (const g of gaps) {
      t += g;
      edge.push({ key: user, value: event(user, t, g === 0 ? 'purchase' : 'page_view'), micros: t });
    }
  }
  // A late arrival that merges two sessions: its event time falls in the gap between them.
  const merge = [base + 120 * MIN, base + 145 * MIN, base + 170 * MIN].map((t) => ({
    key: 'edge-merge',
    value: event('edge-merge', t),
    micros: t,
  }));
  const all = [...generated, ...edge, ...merge.slice(0, 1), ...merge.slice(2)].sort(
    (a, b) => a.micros - b.micros,
  );
  // Reorder within the lateness: each message moves up to 4 minutes later in arrival.
  const jitter = fc.sample(fc.integer({ min: 0, max: 4 * MIN }), { numRuns: all.length, seed: 9 });
  const arrival = all.map((m, i) => ({ m, at: m.micros + (jitter[i] ?? 0) }));
  // The merging event arrives 8 minutes after its time (inside the lateness).
  arrival.push({ m: merge[1]!, at: merge[1]!.micros + 8 * MIN });
  // Late: 25 minutes after their time, beyond 10 minutes of lateness.
  for (let i = 50; i < all.length; i += 97)
    arrival.push({
      m: { ...all[i]!, value: event(all[i]!.key, all[i]!.micros) },
      at: all[i]!.micros + 25 * MIN,
    });
  // Duplicates: the same bytes again a little later (a producer retrying).
  for (let i = 3; i < all.length; i += 41) arrival.push({ m: all[i]!, at: all[i]!.micros + 3 * MIN });
  return arrival.sort((a, b) => a.at - b.at).map((a) => a.m);
}

/** Records as the log delivers them: per partition (by key), offsets in arrival order. */
function toRecords(msgs: readonly Msg[]): BusRecord[] {
  const next = [0, 0];
  return msgs.map((m) => {
    const partition = m.key.charCodeAt(m.key.length - 1) % 2;
    const offset = next[partition]!++;
    // The log accepted it when it arrived: a little after its event time.
    const parsed = parseCommerceEvent(m.value);
    const arrivalMs = Math.floor((parsed.ok ? parsed.timestampMicros : m.micros) / 1000) + 1;
    return { partition, offset, key: m.key, value: m.value, timestamp: arrivalMs };
  });
}

interface OracleOut {
  events: Map<string, { user: string; ts: number; sessionId: string }>;
  sessions: Map<string, { user: string; start: number; end: number; count: number }>;
  dead: Map<string, string>;
}

/** SPEC §6.3 in one pass per partition, then sessions per user over everything accepted. */
function oracle(records: readonly BusRecord[]): OracleOut {
  const dead = new Map<string, string>();
  const accepted: { user: string; key: string; ts: number }[] = [];
  for (const partition of [0, 1]) {
    let maxTs = Number.NEGATIVE_INFINITY;
    const seen = new Set<string>();
    for (const r of records.filter((x) => x.partition === partition).sort((a, b) => a.offset - b.offset)) {
      const parsed = parseCommerceEvent(r.value);
      if (!parsed.ok) {
        dead.set(`${r.partition}@${r.offset}`, parsed.reason);
        continue;
      }
      if (parsed.timestampMicros < maxTs - LATENESS_MS * 1000) {
        dead.set(`${r.partition}@${r.offset}`, 'late');
        continue;
      }
      if (seen.has(parsed.event.idempotency_key)) continue;
      seen.add(parsed.event.idempotency_key);
      accepted.push({
        user: parsed.event.user_id,
        key: parsed.event.idempotency_key,
        ts: parsed.timestampMicros,
      });
      maxTs = Math.max(maxTs, Math.min(parsed.timestampMicros, r.timestamp * 1000));
    }
  }
  const events = new Map<string, { user: string; ts: number; sessionId: string }>();
  const sessions = new Map<string, { user: string; start: number; end: number; count: number }>();
  const byUser = new Map<string, typeof accepted>();
  for (const a of accepted) byUser.set(a.user, [...(byUser.get(a.user) ?? []), a]);
  for (const [user, list] of byUser) {
    // SPEC §6.3: events in event-time order; at one instant, by idempotency_key.
    list.sort((a, b) => a.ts - b.ts || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    let current: typeof accepted = [];
    const flush = () => {
      if (current.length === 0) return;
      const sessionId = sessionIdOf(user, { idempotencyKey: current[0]!.key, ts: current[0]!.ts });
      sessions.set(sessionId, {
        user,
        start: current[0]!.ts,
        end: current[current.length - 1]!.ts,
        count: current.length,
      });
      for (const e of current) events.set(e.key, { user, ts: e.ts, sessionId });
      current = [];
    };
    for (const e of list) {
      const prev = current[current.length - 1];
      if (prev !== undefined && e.ts - prev.ts >= GAP_MS * 1000) flush();
      current.push(e);
    }
    flush();
  }
  return { events, sessions, dead };
}

test('silver equals the oracle across a stop and a crash', { timeout: 180_000 }, async () => {
  const records = toRecords(traffic());
  const expected = oracle(records);
  assert.ok(expected.dead.size > 20, 'the traffic has late and invalid events');
  assert.ok([...expected.dead.values()].includes('late'));
  assert.ok(expected.sessions.size > 50);

  const store = new LocalLakeStore(root);
  const log = new LakeCommitLog(db.pool, 'silver', TOPIC);
  let now = Date.UTC(2025, 11, 1, 0);
  const writer = () =>
    new LakeWriter({
      layer: silverLayer({
        topic: TOPIC,
        allowedLatenessMs: LATENESS_MS,
        sessionGapMs: GAP_MS,
        idleTimeoutMs: 30_000,
      }),
      store,
      log,
      owner: 'test',
      flushIntervalMs: 0,
      maxBatchRecords: 97,
      logger: silentLogger(),
      clock: () => now,
    });
  const ordered = [...records].sort((a, b) => a.offset - b.offset || a.partition - b.partition);
  const feed = async (w: LakeWriter, from: Map<number, number>, upTo: number) => {
    const todo = ordered.filter((r) => r.offset >= (from.get(r.partition) ?? 0) && r.offset < upTo);
    for (let i = 0; i < todo.length; i += 13) {
      now += 10;
      await w.records(todo.slice(i, i + 13));
    }
  };
  const total = Math.max(...records.map((r) => r.offset)) + 1;
  // Run 1 stops cleanly a third in; run 2 crashes (no final commit) at two thirds; run 3 finishes.
  const first = writer();
  await feed(first, await first.assigned([0, 1]), Math.floor(total / 3));
  await first.close();
  const second = writer();
  await feed(second, await second.assigned([0, 1]), Math.floor((2 * total) / 3) + 7);
  const third = writer();
  await feed(third, await third.assigned([0, 1]), total);
  // The producer is done: idle partitions move with the clock, and the last sessions close.
  now = Date.UTC(2025, 11, 3);
  await third.idle();
  now += 31_000;
  await third.idle();
  await third.close();

  const duck = await openDuckDB();
  const read = async <T>(sql: string): Promise<T[]> =>
    (await duck.connection.runAndReadAll(sql)).getRowObjects() as T[];
  const glob = (layer: string) => sqlString(`${root}/${layer}/**/*.parquet`);
  try {
    const events = await read<{ idempotency_key: string; user_id: string; session_id: string; ts: bigint }>(
      `SELECT idempotency_key, user_id, session_id, epoch_us(event_timestamp) AS ts FROM read_parquet(${glob('silver/events')}, hive_partitioning = true)`,
    );
    assert.equal(events.length, expected.events.size, 'one row per accepted, first-seen idempotency_key');
    for (const e of events) {
      const want = expected.events.get(e.idempotency_key);
      assert.ok(want, `unexpected silver event ${e.idempotency_key}`);
      assert.equal(e.user_id, want.user);
      assert.equal(Number(e.ts), want.ts);
      assert.equal(e.session_id, want.sessionId, `session of ${e.idempotency_key}`);
    }
    const sessions = await read<{
      session_id: string;
      user_id: string;
      s: bigint;
      e: bigint;
      event_count: number;
    }>(
      `SELECT session_id, user_id, epoch_us(session_start) AS s, epoch_us(session_end) AS e, event_count
       FROM read_parquet(${glob('silver/sessions')}, hive_partitioning = true)`,
    );
    assert.equal(sessions.length, expected.sessions.size, 'one row per session');
    for (const s of sessions) {
      const want = expected.sessions.get(s.session_id);
      assert.ok(want, `unexpected session ${s.session_id}`);
      assert.deepEqual(
        [s.user_id, Number(s.s), Number(s.e), s.event_count],
        [want.user, want.start, want.end, want.count],
      );
    }
    const edgeSessions = (user: string) => sessions.filter((s) => s.user_id === user).length;
    assert.equal(edgeSessions('edge-a'), 1, '29:59 apart is one session');
    assert.equal(edgeSessions('edge-b'), 2, '30:00 apart splits');
    assert.equal(edgeSessions('edge-merge'), 1, 'a late arrival inside the lateness merges two sessions');
    const dead = await read<{ partition: number; offset: bigint; reason: string }>(
      `SELECT "partition", "offset", reason FROM read_parquet(${glob('dead-letter-queue/events')}, hive_partitioning = true)`,
    );
    assert.deepEqual(
      new Map(dead.map((d) => [`${d.partition}@${d.offset}`, d.reason])),
      expected.dead,
      'every invalid and late record in the dead letters once, with its reason',
    );
  } finally {
    duck.connection.closeSync();
    duck.instance.closeSync();
  }
});

/** Partition 0 of a silver layer with the suite's lateness and gap, from an empty state. */
function openSilver(idleTimeoutMs: number, maxFutureSkewMs?: number) {
  return silverLayer({
    topic: TOPIC,
    allowedLatenessMs: LATENESS_MS,
    sessionGapMs: GAP_MS,
    idleTimeoutMs,
    ...(maxFutureSkewMs !== undefined ? { maxFutureSkewMs } : {}),
  }).open({ partition: 0, epoch: 1, committedOffset: 0, replayOffset: 0, state: null, unpublished: [] });
}

test('each commit records the watermark and the earliest event still held, for the wait for silver', () => {
  const partition = openSilver(60_000);
  const t0 = Date.parse('2026-11-02T23:00:00Z') * 1000;
  // u1 visits at 23:00 and leaves; u2 arrives at 23:50 and stays (an event every 10 minutes).
  const times: [string, number][] = [
    ['u1', t0],
    ['u2', t0 + 50 * MIN],
  ];
  for (let m = 60; m <= 150; m += 10) times.push(['u2', t0 + m * MIN]);
  let offset = 0;
  for (const [user, micros] of times) {
    partition.ingest(
      { partition: 0, offset: offset++, key: user, value: event(user, micros), timestamp: micros / 1000 },
      micros / 1000,
    );
  }
  const state = partition.take(Date.now()).state as Record<string, unknown>;
  // Max event time 01:30, so the watermark is 01:20; u1's session (23:00) has closed, u2's is open
  // since 23:50 and keeps the whole session, its 23:50 event included.
  assert.equal(state.watermark, t0 + 140 * MIN);
  assert.equal(state.heldMinTs, t0 + 50 * MIN);
  // The replay bound still starts at u2's first record (nothing before it but u1's).
  assert.equal(state.replayMaxTs, t0);
});

test('an idle partition that never had a record keeps its watermark: a history sent later is not late', () => {
  const partition = openSilver(1_000);
  const wall = Date.parse('2026-12-03T06:00:00Z');
  partition.tick?.(wall);
  partition.tick?.(wall + 5_000);
  assert.equal(partition.pending, true, 'it says once that it is empty');
  const idle = partition.take(wall + 5_000);
  assert.deepEqual(idle.files, []);
  assert.equal((idle.state as Record<string, unknown>).empty, true);
  assert.equal((idle.state as Record<string, unknown>).watermark, null);
  partition.tick?.(wall + 60_000);
  assert.equal(partition.pending, false, 'and only once');
  // A day of last year arrives a minute later: kept, its sessions close as history goes on.
  const t0 = Date.parse('2025-11-02T08:00:00Z') * 1000;
  const at = [t0, t0 + 5 * MIN, t0 + 120 * MIN];
  for (const [offset, micros] of at.entries()) {
    partition.ingest(
      { partition: 0, offset, key: 'u1', value: event('u1', micros), timestamp: wall + 60_000 + offset },
      wall + 60_000,
    );
  }
  const out = partition.take(wall + 60_000);
  const keys = out.files.map((f) => f.key);
  assert.ok(!keys.some((k) => k.startsWith('dead-letter-queue/')), `nothing late: ${keys.join(', ')}`);
  assert.equal(
    out.files.find((f) => f.key.startsWith('silver/events/'))?.rows,
    2,
    'the 08:00 session closed',
  );
  assert.equal((out.state as Record<string, unknown>).empty, undefined);
  // Now that it has had records, going idle moves the watermark with the wall clock again.
  partition.tick?.(wall + 60_000);
  partition.tick?.(wall + 62_000);
  const closed = partition.take(wall + 62_000);
  assert.equal(
    closed.files.find((f) => f.key.startsWith('silver/events/'))?.rows,
    1,
    'the 10:00 session closed',
  );
});

/** One commerce event's bytes: a page view (or a purchase) of `user` at `micros`, with `extra` fields. */
function eventLine(
  key: string,
  micros: number,
  o: { user: string; type?: 'page_view' | 'purchase'; device?: string; extra?: Record<string, unknown> },
): Buffer {
  return Buffer.from(
    JSON.stringify({
      event_id: `id-${key}`,
      idempotency_key: key,
      user_id: o.user,
      timestamp: new Date(micros / 1000).toISOString(),
      event_type: o.type ?? 'page_view',
      device_type: o.device ?? 'mobile',
      ip_address: '10.0.0.1',
      schema_version: 'v1',
      payload:
        o.type === 'purchase'
          ? {
              transaction_id: 'T',
              product_id: 'P',
              quantity: 1,
              unit_price: 5,
              total_amount: 5,
              currency: 'USD',
            }
          : { page_url: 'https://example.com/', session_id: 'x', random_number: 1 },
      ...o.extra,
    }),
  );
}

/** One silver partition fed `lines` in this order, all arrived at `arrivedMs`; the files it commits. */
function silverFiles(lines: readonly Buffer[], arrivedMs: number) {
  const partition = openSilver(60_000);
  lines.forEach((value, offset) => {
    partition.ingest({ partition: 0, offset, key: 'k', value, timestamp: arrivedMs }, arrivedMs);
  });
  const files = partition.take(Date.now()).files;
  const of = (layer: string) => {
    const file = files.find((f) => f.key.startsWith(`silver/${layer}/`));
    assert.ok(file, `a silver/${layer} file`);
    return file.bytes;
  };
  return { events: of('events'), sessions: of('sessions') };
}

/** Some columns of a Parquet file's rows, read by hyparquet (an independent reader). */
function readColumns(bytes: Uint8Array, columns: string[]) {
  return parquetReadObjects({
    file: bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer,
    columns,
    compressors: { ZSTD: (input: Uint8Array) => new Uint8Array(zstdDecompressSync(input)) },
  });
}

test('events at one instant: the same session, id and first event whatever order they arrive in', async () => {
  const t0 = Date.parse('2026-11-20T10:05:00Z') * 1000;
  const x = eventLine('k-b', t0, { user: 'u-tie', device: 'mobile' });
  const y = eventLine('k-a', t0, { user: 'u-tie', type: 'purchase', device: 'tablet' });
  // Another user's events move the watermark past the tied session's end.
  const later = [40, 80].map((m, i) =>
    eventLine(`c-${i}`, t0 + m * MIN, { user: 'u-clock', device: 'desktop' }),
  );
  // Arrived after all of it (an event's arrival time bounds its watermark).
  const arrived = t0 / 1000 + 100 * 60_000;
  const xy = silverFiles([x, y, ...later], arrived);
  const yx = silverFiles([y, x, ...later], arrived);
  assert.ok(Buffer.from(xy.sessions).equals(Buffer.from(yx.sessions)), 'the same session rows');
  const sessionIds = async (bytes: Uint8Array) =>
    (await readColumns(bytes, ['user_id', 'session_id']))
      .filter((r) => r.user_id === 'u-tie')
      .map((r) => r.session_id as string);
  // The first event is the smaller key: it names the session, in both runs' events too (their
  // rows differ only by source_offset).
  const id = sessionIdOf('u-tie', { idempotencyKey: 'k-a', ts: t0 });
  const other = sessionIdOf('u-tie', { idempotencyKey: 'k-b', ts: t0 });
  assert.deepEqual(await sessionIds(xy.sessions), [id]);
  assert.notEqual(id, other);
  for (const events of [xy.events, yx.events]) assert.deepEqual(await sessionIds(events), [id, id]);
});

test("unknown top-level fields are kept in silver's payload JSON, beside the payload's own", async () => {
  const t0 = Date.parse('2026-11-20T10:05:00Z') * 1000;
  const { events } = silverFiles(
    [
      // The seed's extra_fields kind; its random_number is also a payload field here: the payload's wins.
      eventLine('k-extra', t0, {
        user: 'u-extra',
        extra: { __unexpected_field__: 'should_not_be_here', random_number: 5 },
      }),
      eventLine('k-plain', t0 + 1, { user: 'u-extra' }),
      eventLine('k-clock', t0 + 90 * MIN, { user: 'u-extra' }),
    ],
    t0 / 1000 + 100 * 60_000,
  );
  const rows = await readColumns(events, ['idempotency_key', 'payload']);
  const payloads = new Map(rows.map((r) => [r.idempotency_key as string, JSON.parse(r.payload as string)]));
  const page = { page_url: 'https://example.com/', session_id: 'x', random_number: 1 };
  assert.deepEqual(payloads.get('k-extra'), { ...page, __unexpected_field__: 'should_not_be_here' });
  assert.deepEqual(payloads.get('k-plain'), page);
});

test('an event stamped far ahead of its arrival is a future_ts dead letter, not a session held until then', () => {
  const partition = openSilver(60_000, 5 * 60_000);
  const arrival = Date.parse('2026-12-05T04:00:00Z');
  const at = (minutes: number) => (arrival + minutes * 60_000) * 1000;
  // Written straight to the topic (POST /events refuses it already): the year 2199, and 4 minutes
  // ahead (inside the 5-minute skew, kept).
  const records = [
    { user: 'u1', micros: Date.parse('2199-12-31T23:59:59Z') * 1000 },
    { user: 'u2', micros: at(4) },
  ].map(({ user, micros }, offset) => ({
    partition: 0,
    offset,
    key: user,
    value: event(user, micros),
    timestamp: arrival,
  }));
  for (const r of records) partition.ingest(r, arrival);
  const out = partition.take(arrival);
  const dead = out.files.filter((f) => f.key.startsWith('dead-letter-queue/'));
  assert.equal(dead.length, 1);
  assert.equal(dead[0]!.rows, 1);
  // Only u2's event is held: the replay starts at its record, not at the year-2199 one.
  assert.equal(out.replayOffset, 1);
  assert.equal((out.state as Record<string, unknown>).heldMinTs, at(4));
});

test('a replay judges what an older rtsa read by its rules: an event it held is written, not lost', () => {
  // rtsa before rules 2 took a commerce event stamped 20 minutes ahead of its arrival (now a
  // future_ts dead letter) and held it in an open session when it stopped: its last commit's
  // state has no `rules`. The upgraded writer replays that record: it must end in silver (or the
  // dead letters), and stay so through a second restart.
  const arrival = Date.parse('2026-12-05T04:00:00Z');
  const at = (minutes: number) => (arrival + minutes * 60_000) * 1000;
  const record = (offset: number, user: string, micros: number, arrivedMs = arrival) => ({
    partition: 0,
    offset,
    key: user,
    value: event(user, micros),
    timestamp: arrivedMs,
  });
  // And one nested 70 levels deep (now over the 64-level limit), which that rtsa took too.
  let deep: unknown = 'bottom';
  for (let i = 0; i < 70; i++) deep = [deep];
  const read = [
    record(0, 'u1', at(20)),
    record(1, 'u2', at(0)),
    { ...record(2, 'u4', at(1)), value: eventLine('deep-1', at(1), { user: 'u4', extra: { deep } }) },
  ];
  const layer = silverLayer({
    topic: TOPIC,
    allowedLatenessMs: LATENESS_MS,
    sessionGapMs: GAP_MS,
    idleTimeoutMs: 60_000,
    maxFutureSkewMs: 5 * 60_000,
  });
  const first = layer.open({
    partition: 0,
    epoch: 2,
    committedOffset: 3,
    replayOffset: 0,
    state: { replayMaxTs: null, idleMarks: [] },
    unpublished: [],
  });
  for (const r of read) first.replay!(r, arrival);
  const between = first.take(arrival);
  assert.equal(between.files.length, 0, 'both sessions are still open');
  assert.equal(between.replayOffset, 0);
  assert.deepEqual(
    [(between.state as Record<string, unknown>).rules, (between.state as Record<string, unknown>).legacy],
    [SILVER_RULES, [{ before: 3, rules: 1 }]],
  );

  // Restarted again from that state; then a much later event closes both sessions.
  const second = layer.open({
    partition: 0,
    epoch: 3,
    committedOffset: 3,
    replayOffset: between.replayOffset,
    state: between.state,
    unpublished: [],
  });
  for (const r of read) second.replay!(r, arrival);
  const later = arrival + 300 * 60_000;
  second.ingest(record(3, 'u3', later * 1000, later), later);
  const out = second.take(later);
  const rows = (prefix: string) =>
    out.files.filter((f) => f.key.startsWith(prefix)).reduce((n, f) => n + f.rows, 0);
  assert.equal(rows(`${SILVER_EVENTS_PATH}/`), 3, "u1's, u2's and u4's held events are written");
  assert.equal(rows('dead-letter-queue/'), 0);
  assert.equal((out.state as Record<string, unknown>).legacy, undefined, 'past the old records');
});

/** The idempotency keys of the silver events in `files` (each commit's events files). */
async function readEvents(files: readonly LayerFile[]): Promise<{ idempotency_key: string }[]> {
  const rows: { idempotency_key: string }[] = [];
  for (const f of files.filter((f) => f.key.startsWith(`${SILVER_EVENTS_PATH}/`)))
    rows.push(...((await readColumns(f.bytes, ['idempotency_key'])) as { idempotency_key: string }[]));
  return rows;
}

/** A record of partition 0 that reached the log when its event happened. */
function rec(offset: number, value: Buffer, micros: number) {
  return { partition: 0, offset, key: 'k', value, timestamp: Math.floor(micros / 1000) };
}

/**
 * A key used again hours later (a retried purchase re-stamped): its first event, a stream of another
 * user's page views moving the watermark past that event's session, then the copy.
 */
function reusedKeyLog(): ReturnType<typeof rec>[] {
  const t0 = Date.parse('2026-12-01T08:00:00Z') * 1000;
  const out = [rec(0, eventLine('K-RETRY', t0, { user: 'buyer', type: 'purchase' }), t0)];
  for (let i = 1; i <= 200; i++) out.push(rec(i, event('walker', t0 + i * MIN), t0 + i * MIN));
  const again = t0 + 201 * MIN;
  out.push(rec(201, eventLine('K-RETRY', again, { user: 'buyer', type: 'purchase' }), again));
  return out;
}

test('a key used again after its first session may close: the same silver however commits fall', () => {
  const log = reusedKeyLog();
  const run = (commitEvery: number) => {
    const partition = openSilver(60_000);
    const files: LayerFile[] = [];
    log.forEach((r, i) => {
      partition.ingest(r, r.timestamp);
      if ((i + 1) % commitEvery === 0) files.push(...partition.take(r.timestamp).files);
    });
    // Much later: everything closes.
    const end = log.at(-1)!.timestamp + 600 * 60_000;
    partition.ingest(rec(log.length, event('late-comer', end * 1000), end * 1000), end);
    files.push(...partition.take(end).files);
    return files;
  };
  const keysOf = async (files: LayerFile[]) => (await readEvents(files)).map((e) => e.idempotency_key).sort();
  return (async () => {
    const once = await keysOf(run(10_000));
    const often = await keysOf(run(50));
    assert.deepEqual(once, often, 'one commit at the end or one every 50 records: the same rows');
    assert.equal(once.filter((k) => k === 'K-RETRY').length, 2, 'both uses of the key, in every run');
  })();
});

test('a copy while its first session cannot close yet is dropped, however commits fall', async () => {
  const t0 = Date.parse('2026-12-01T08:00:00Z') * 1000;
  const log = [rec(0, eventLine('K-1', t0, { user: 'buyer' }), t0)];
  for (let i = 1; i <= 5; i++) log.push(rec(i, event('walker', t0 + i * MIN), t0 + i * MIN));
  log.push(rec(6, eventLine('K-1', t0 + 6 * MIN, { user: 'buyer' }), t0 + 6 * MIN));
  for (const commitEvery of [1, 3, 100]) {
    const partition = openSilver(60_000);
    const files: LayerFile[] = [];
    log.forEach((r, i) => {
      partition.ingest(r, r.timestamp);
      if ((i + 1) % commitEvery === 0) files.push(...partition.take(r.timestamp).files);
    });
    const end = t0 / 1000 + 600 * 60_000;
    partition.ingest(rec(7, event('late-comer', end * 1000), end * 1000), end);
    files.push(...partition.take(end).files);
    const keys = (await readEvents(files)).map((e) => e.idempotency_key);
    assert.equal(keys.filter((k) => k === 'K-1').length, 1, `commit every ${commitEvery}`);
  }
});

test('a replay of what rules 2 read judges a reused key by rules 2: the copy it dropped stays dropped', () => {
  // Rules 2 dropped the copy (offset 201) because its first event was still held when it came;
  // the upgraded writer replays that range and must drop it too, then write what was held.
  const log = reusedKeyLog();
  const layer = silverLayer({
    topic: TOPIC,
    allowedLatenessMs: LATENESS_MS,
    sessionGapMs: GAP_MS,
    idleTimeoutMs: 60_000,
  });
  const upgraded = layer.open({
    partition: 0,
    epoch: 2,
    committedOffset: log.length,
    replayOffset: 0,
    state: { replayMaxTs: null, idleMarks: [], rules: 2 },
    unpublished: [],
  });
  for (const r of log) upgraded.replay!(r, r.timestamp);
  const between = upgraded.take(log.at(-1)!.timestamp);
  assert.deepEqual((between.state as Record<string, unknown>).legacy, [{ before: log.length, rules: 2 }]);
  const end = log.at(-1)!.timestamp + 600 * 60_000;
  upgraded.ingest(rec(log.length, event('late-comer', end * 1000), end * 1000), end);
  return readEvents(upgraded.take(end).files).then((rows) => {
    assert.equal(
      rows.filter((e) => e.idempotency_key === 'K-RETRY').length,
      0,
      'the held range was written before',
    );
  });
});

/**
 * The windows in memory (window-store.ts, window-feed.ts) answer exactly what the statements of
 * metrics-queries.ts answer: the oracle is Postgres itself, over random queries on streams whose
 * ids sort differently by code point and by language (case, punctuation, accents, a character past
 * U+FFFF against one just below it), gaps, and a window_start off the minute with microseconds.
 * Then the store is checked again right after each kind of change, without any wait: what a
 * commit wrote must be in the next answer (the barrier). Also: a horizon (ranges older than it go
 * to Postgres), a lost connection (Postgres meanwhile, then a full reload with what changed while
 * away), TRUNCATE.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createRandom } from '../../../src/generator/random.ts';
import {
  type MetricsResult,
  selectLatestAfter,
  selectLatestWindow,
  selectMetricsAfter,
  selectMetricsRange,
  selectStreamState,
  selectTopStreams,
  TOP_BY,
  type TopResult,
  WindowFeed,
} from '../../../src/realtime/serving/index.ts';
import {
  compareCodePoints,
  isoOfMillis,
  type WindowStore,
} from '../../../src/realtime/serving/window-store.ts';
import { APPLICATION_NAME } from '../../../src/realtime/serving/window-feed.ts';
import { silentLogger } from '../../../src/telemetry/logger.ts';
import { createTestDatabase, type TestDatabase } from '../../helpers/postgres.ts';

const T0 = Date.parse('2024-03-01T12:00:00Z');
const MINUTES = 40;
const STREAMS = ['a', 'B', 'b', '_x', '-y', 'Z9', 'é', 'e', 'e\u{1F600}', 'e\uE000', 'stream_10', 'stream_2'];
const iso = (ms: number) => new Date(ms).toISOString();

let db: TestDatabase;
const random = createRandom(20261203);
const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)] as T;
const int = (n: number) => Math.floor(random() * n);

async function insert(rows: { ws: string; sid: string }[]): Promise<void> {
  await db.pool.query(
    `INSERT INTO stream_metrics_minute (window_start, stream_id, window_end, active_viewers, chat_messages,
       donations_usd, donation_count, viewer_joins, viewer_leaves, events, is_final, updated_at)
     SELECT ws, sid, ws + interval '1 minute', (random() * 1000)::int, (random() * 50)::int,
            round((random() * 100)::numeric, 2), (random() * 5)::int, (random() * 9)::int, (random() * 9)::int,
            (random() * 100)::int, random() < 0.5, now() - random() * interval '1 hour'
     FROM unnest($1::timestamptz[], $2::text[]) AS u(ws, sid)
     ON CONFLICT DO NOTHING`,
    [rows.map((r) => r.ws), rows.map((r) => r.sid)],
  );
  await summarise();
}

/** stream_state for `streams`: random viewers and times (µs precision), as the processor upserts it. */
async function upsertState(streams: readonly string[]): Promise<void> {
  await db.pool.query(
    `INSERT INTO stream_state AS s (stream_id, active_viewers, last_event_at, updated_at)
     SELECT sid, (random() * 500)::int, $2::timestamptz + random() * interval '1 hour', now() - random() * interval '1 day'
     FROM unnest($1::text[]) AS sid
     ON CONFLICT (stream_id) DO UPDATE SET active_viewers = EXCLUDED.active_viewers,
       last_event_at = EXCLUDED.last_event_at, updated_at = EXCLUDED.updated_at`,
    [streams, iso(T0)],
  );
}

/** The running totals and stream_latest_window, as the results writer keeps them (for /streams/top). */
async function summarise(): Promise<void> {
  await db.pool.query('SELECT rebuild_stream_summaries()');
}

function seedRows(fromMinute: number, toMinute: number): { ws: string; sid: string }[] {
  const rows: { ws: string; sid: string }[] = [];
  for (let m = fromMinute; m < toMinute; m++)
    for (const sid of STREAMS) if (random() < 0.7) rows.push({ ws: iso(T0 + m * 60_000), sid });
  return rows;
}

const parsedTop = (r: TopResult) => ({ latest: r.latest?.toISOString() ?? null, rows: r.rows });
const parsed = (r: MetricsResult) => ({
  latest: r.latest,
  rows: r.rows.map((row) => JSON.parse(row)),
  keys: r.rows.map((_, i) => r.keyOf(i)),
});

/** A random query of each kind, run on the store and on Postgres. */
function randomQuery(newest: number): {
  what: string;
  memory: (s: WindowStore) => MetricsResult | object | undefined;
  postgres: () => Promise<MetricsResult | object>;
} {
  const stream = () => (random() < 0.15 ? 'nope' : pick(STREAMS));
  const someMinute = () => iso(newest - int(MINUTES + 5) * 60_000);
  const kind = int(6);
  if (kind === 5) {
    const p = {
      limit: 1 + int(8),
      offset: int(4),
      streamId: random() < 0.3 ? stream() : undefined,
      after: random() < 0.4 ? (random() < 0.3 ? 'c' : stream()) : undefined,
    };
    return {
      what: `state ${JSON.stringify(p)}`,
      memory: (s) => {
        const r = s.state?.page(p);
        return r === undefined ? undefined : { ...r, rows: r.rows.map((row) => JSON.parse(row)) };
      },
      postgres: async () => {
        const r = await selectStreamState(db.pool, p);
        return { ...r, rows: r.rows.map((row) => JSON.parse(row)) };
      },
    };
  }
  if (kind === 4) {
    const p = { minutes: 1 + int(60), by: pick(TOP_BY), n: 1 + int(15) };
    return {
      what: `top ${JSON.stringify(p)}`,
      memory: (s) => {
        const r = s.top(p);
        return r === undefined ? undefined : parsedTop(r);
      },
      postgres: async () => parsedTop(await selectTopStreams(db.pool, p)),
    };
  }
  if (kind === 0) {
    const p = {
      minutes: 1 + int(60),
      limit: 1 + int(20),
      offset: int(30),
      streamId: random() < 0.4 ? stream() : undefined,
      order: pick(['ASC', 'DESC'] as const),
    };
    return {
      what: `range ${JSON.stringify(p)}`,
      memory: (s) => s.range(p),
      postgres: () => selectMetricsRange(db.pool, p),
    };
  }
  if (kind === 1) {
    const p = {
      minutes: 1 + int(60),
      limit: 1 + int(20),
      offset: int(5),
      streamId: random() < 0.3 ? stream() : undefined,
      order: pick(['ASC', 'DESC'] as const),
      after: {
        latest: random() < 0.7 ? iso(newest) : someMinute(),
        windowStart: someMinute(),
        streamId: stream(),
      },
    };
    return {
      what: `after ${JSON.stringify(p)}`,
      memory: (s) => s.after(p),
      postgres: () => selectMetricsAfter(db.pool, p),
    };
  }
  if (kind === 2) {
    const p = {
      latest: random() < 0.7 ? iso(newest) : someMinute(),
      streamId: random() < 0.2 ? 'c' : stream(),
      limit: 1 + int(10),
      offset: int(4),
    };
    return {
      what: `latestAfter ${JSON.stringify(p)}`,
      memory: (s) => s.latestAfter(p),
      postgres: () => selectLatestAfter(db.pool, p),
    };
  }
  const p = { streamId: random() < 0.5 ? stream() : undefined, limit: 1 + int(10), offset: int(3) };
  return {
    what: `latestWindow ${JSON.stringify(p)}`,
    memory: (s) => s.latestWindow(p),
    postgres: () => selectLatestWindow(db.pool, p),
  };
}

async function newestMs(): Promise<number> {
  const { rows } = await db.pool.query<{ ms: number | null }>(
    'SELECT (extract(epoch FROM max(window_start)) * 1000)::float8 AS ms FROM stream_metrics_minute',
  );
  return Math.floor(rows[0]?.ms ?? T0);
}

/** `n` random queries: each answered from memory must equal Postgres. Returns how many were. */
async function agree(
  feed: WindowFeed,
  n: number,
  label: string,
): Promise<{ memory: number; postgres: number }> {
  const newest = await newestMs();
  const count = { memory: 0, postgres: 0 };
  for (let i = 0; i < n; i++) {
    const q = randomQuery(newest);
    const store = await feed.fresh();
    assert.ok(store !== undefined, `${label}: the feed serves`);
    const fromMemory = q.memory(store);
    const fromPostgres = await q.postgres();
    if (fromMemory === undefined) {
      count.postgres++;
      continue;
    }
    count.memory++;
    const norm = (r: MetricsResult | object) => ('keyOf' in r ? parsed(r as MetricsResult) : r);
    assert.deepEqual(norm(fromMemory), norm(fromPostgres), `${label}: ${q.what}`);
  }
  return count;
}

async function untilServing(feed: WindowFeed): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if ((await feed.fresh()) !== undefined) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.fail('the feed did not serve again within 10 s');
}

/** A feed on the test database, loaded (it must serve), for `fn`; closed after. */
async function withFeed(
  options: { horizonMs?: number; idleSessionTimeoutMs?: number },
  fn: (feed: WindowFeed) => Promise<void>,
): Promise<void> {
  const feed = new WindowFeed({
    pool: db.pool,
    logger: silentLogger(),
    horizonMs: 24 * 3600_000,
    ...options,
  });
  feed.start();
  try {
    assert.equal(await feed.started(), true);
    await fn(feed);
  } finally {
    await feed.close();
  }
}

before(async () => {
  db = await createTestDatabase('window_store');
  await insert(seedRows(0, MINUTES));
  // Off the minute, with microseconds: a bucket of its own.
  await db.pool.query(
    `INSERT INTO stream_metrics_minute (window_start, stream_id, window_end, active_viewers, chat_messages,
       donations_usd, donation_count, viewer_joins, viewer_leaves, events, is_final, updated_at)
     VALUES ('2024-03-01T12:10:30.000123Z', 'a', '2024-03-01T12:11:30.000123Z', 1, 2, 3.5, 1, 1, 0, 4, true,
             '2024-03-01T12:12:00.999999Z')`,
  );
  await summarise();
  await upsertState(STREAMS.filter((_, i) => i % 4 !== 1));
});

after(async () => {
  await db?.drop();
});

test('times are written as Date#toISOString writes them, any day, any year', () => {
  const samples = [0, -1, 1, 86_399_999, 86_400_000, -86_400_001, 253_402_300_799_999, 253_402_300_800_000];
  samples.push(-62_167_219_200_000, -62_167_219_200_001, 951_782_400_000 /* 2000-02-29 */);
  for (let i = 0; i < 20_000; i++) samples.push(Math.floor((random() - 0.3) * 4e14));
  for (const ms of samples) assert.equal(isoOfMillis(ms), new Date(ms).toISOString(), String(ms));
});

test('code point order is Postgres order under the C collation', async () => {
  const { rows } = await db.pool.query<{ sorted: string[] }>(
    'SELECT array_agg(s ORDER BY s COLLATE "C") AS sorted FROM unnest($1::text[]) s',
    [STREAMS],
  );
  assert.deepEqual([...STREAMS].sort(compareCodePoints), rows[0]?.sorted);
});

describe('a feed holding every window', () => {
  let feed: WindowFeed;
  before(async () => {
    feed = new WindowFeed({ pool: db.pool, logger: silentLogger(), horizonMs: 24 * 3600_000 });
    feed.start();
    assert.equal(await feed.started(), true);
  });
  after(async () => {
    await feed.close();
  });

  test('every query equals Postgres', async () => {
    const count = await agree(feed, 400, 'loaded');
    assert.equal(count.postgres, 0, 'the whole table is held: nothing goes to Postgres');
    assert.equal(
      feed.size,
      Number((await db.pool.query('SELECT count(*) FROM stream_metrics_minute')).rows[0].count),
    );
  });

  test('right after each change commits, the next answer has it', async () => {
    // New minutes (the processor's usual write).
    await insert(seedRows(MINUTES, MINUTES + 3));
    await agree(feed, 60, 'new minutes');
    // Values and finality of existing windows change; a late window lands in an old minute.
    await db.pool.query(
      `UPDATE stream_metrics_minute SET chat_messages = chat_messages + 1, is_final = NOT is_final,
         updated_at = now() WHERE stream_id IN ('b', 'é') AND window_start > $1`,
      [iso(T0 + 20 * 60_000)],
    );
    await summarise();
    await agree(feed, 60, 'updates');
    await insert([{ ws: iso(T0 + 5 * 60_000), sid: 'late' }]);
    await agree(feed, 60, 'a late window');
    // Rows and whole minutes go.
    await db.pool.query(`DELETE FROM stream_metrics_minute WHERE stream_id = 'B' OR window_start = $1`, [
      iso(T0 + (MINUTES + 2) * 60_000),
    ]);
    await summarise();
    await agree(feed, 60, 'deletes');
    // A window moved to another minute.
    await db.pool.query(
      `UPDATE stream_metrics_minute SET window_start = window_start + interval '90 minutes',
         window_end = window_end + interval '90 minutes' WHERE stream_id = 'late'`,
    );
    await summarise();
    await agree(feed, 60, 'a moved window');
    await upsertState(['B', 'late', 'e\u{1F600}']);
    await agree(feed, 40, 'state upserted');
    await db.pool.query(`DELETE FROM stream_state WHERE stream_id IN ('a', 'Z9')`);
    await agree(feed, 40, 'state deleted');
    // One statement writing windows years apart (a late event and a current one): only the
    // minutes that hold windows are read, not every ten minutes of the years between.
    await insert([
      { ws: '2014-06-01T00:00:00Z', sid: 'a' },
      { ws: iso(T0 + (MINUTES + 2) * 60_000), sid: 'old and new' },
    ]);
    await agree(feed, 40, 'a span of ten years');
    await db.pool.query(`DELETE FROM stream_metrics_minute WHERE window_start < '2015-01-01'`);
    await summarise();
    await agree(feed, 40, 'a span of ten years, deleted');
    // Several commits in a row, each read at once.
    for (let m = MINUTES + 3; m < MINUTES + 8; m++) {
      await insert(seedRows(m, m + 1));
      await agree(feed, 5, `minute ${m}`);
    }
  });

  test('concurrent requests share barriers and all see the commit before them', async () => {
    await insert(seedRows(MINUTES + 8, MINUTES + 9));
    const newest = await newestMs();
    const stores = await Promise.all(Array.from({ length: 50 }, () => feed.fresh()));
    for (const s of stores) {
      assert.ok(s !== undefined);
      assert.equal(s.latestWindow({ streamId: undefined, limit: 1, offset: 0 })?.latest, iso(newest));
    }
  });

  test('a lost connection: Postgres meanwhile, then a full reload with the changes made while away', async () => {
    const { rows } = await db.pool.query<{ pid: number }>(
      `SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND application_name = $1`,
      [APPLICATION_NAME],
    );
    assert.equal(rows.length, 1, 'one listening connection');
    await db.pool.query('SELECT pg_terminate_backend($1)', [rows[0]?.pid]);
    // Until the feed notices, a barrier fails; either way it stops answering from memory.
    for (let i = 0; i < 100 && (await feed.fresh()) !== undefined; i++)
      await new Promise((r) => setTimeout(r, 20));
    assert.ok((await feed.fresh()) === undefined, 'no answers from a store that may miss changes');
    await insert(seedRows(MINUTES + 9, MINUTES + 11));
    await db.pool.query(`DELETE FROM stream_metrics_minute WHERE stream_id = 'Z9'`);
    await summarise();
    await untilServing(feed);
    const count = await agree(feed, 200, 'after a reconnection');
    assert.equal(count.postgres, 0);
  });

  test('TRUNCATE empties it', async () => {
    const copy = await db.pool.query('SELECT * FROM stream_metrics_minute');
    await db.pool.query('TRUNCATE stream_metrics_minute');
    await untilServing(feed);
    const store = await feed.fresh();
    assert.deepEqual(store?.latestWindow({ streamId: undefined, limit: 5, offset: 0 }), {
      latest: null,
      rows: [],
      keyOf: store?.latestWindow({ streamId: undefined, limit: 5, offset: 0 })?.keyOf,
    });
    assert.equal(feed.size, 0);
    // Put the rows back for the tests after this one.
    const cols = Object.keys(copy.rows[0] ?? {});
    for (const r of copy.rows) {
      await db.pool.query(
        `INSERT INTO stream_metrics_minute (${cols.join(', ')}) VALUES (${cols.map((_, i) => `$${i + 1}`).join(', ')})`,
        cols.map((c) => r[c]),
      );
    }
    await summarise();
    await agree(feed, 50, 'after TRUNCATE and a refill');
  });
});

test('a frozen process does not hold the notification queue: Postgres ends its listening session', async () => {
  await withFeed({ idleSessionTimeoutMs: 600 }, async (feed) => {
    const listener = async () =>
      (
        await db.pool.query<{ pid: number }>(
          `SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND application_name = $1`,
          [APPLICATION_NAME],
        )
      ).rows.map((r) => r.pid);
    const before = await listener();
    assert.equal(before.length, 1);
    // Alive, it keeps its session past the timeout.
    await new Promise((r) => setTimeout(r, 1500));
    assert.deepEqual(await listener(), before);
    // Frozen (the thread blocked: no keepalive, no reads) past the timeout: the session is ended.
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1500);
    for (let i = 0; i < 50 && (await listener()).includes(before[0] as number); i++) {
      await new Promise((r) => setTimeout(r, 20));
    }
    assert.ok(!(await listener()).includes(before[0] as number), 'the frozen session was ended');
    // And the feed, awake again, reconnects and serves.
    await untilServing(feed);
  });
});

test('notifications that do not come back (a pooler in transaction mode): Postgres answers, never a stale store', async () => {
  await withFeed({}, async (feed) => {
    assert.ok((await feed.fresh()) !== undefined);
    // Fault injected: the listening session stops listening, as one behind a pooler would.
    await (feed as unknown as { client: { query(sql: string): Promise<unknown> } }).client.query(
      'UNLISTEN rtsa_windows',
    );
    await insert(seedRows(MINUTES + 30, MINUTES + 31));
    assert.ok((await feed.fresh()) === undefined, 'no barrier can be trusted: no answer from memory');
  });
});

test('a horizon: ranges within it from memory, older ones from Postgres, the same rows', async () => {
  await withFeed({ horizonMs: 15 * 60_000 }, async (feed) => {
    const count = await agree(feed, 400, 'horizon');
    assert.ok(count.memory > 50, `answered from memory: ${count.memory}`);
    assert.ok(count.postgres > 50, `left to Postgres: ${count.postgres}`);
    // New minutes push the oldest out of memory.
    const before = feed.size;
    await insert(seedRows(MINUTES + 20, MINUTES + 25));
    await agree(feed, 100, 'horizon, moved');
    assert.ok(feed.size <= before + STREAMS.length * 5);
  });
});

/**
 * GET /metrics, /metrics/latest, /metrics/history, /streams/top, /state against seeded rows: shapes,
 * values, ordering, pagination and the anchoring of lookbacks at the latest window (the data is
 * from 2024, so a lookback from now() would find nothing).
 */
import assert from 'node:assert/strict';
import type { Registry } from 'prom-client';
import { after, before, describe, test } from 'node:test';
import { gunzipSync, zstdDecompressSync } from 'node:zlib';
import type { FastifyInstance } from 'fastify';
import { MAX_ID_LENGTH } from '../../../src/events/index.ts';
import { ONE_OFF_GZIP_MIN_BYTES } from '../../../src/http/json-body.ts';
import { encodeCursor } from '../../../src/realtime/api/cursor.ts';
import { createTestDatabase, type TestDatabase } from '../../helpers/postgres.ts';
import { until } from '../../helpers/rtsa-child.ts';
import { addMinutes, buildTestApi, insertWindows, type SeedWindow, UPDATED_AT } from './fixtures.ts';

const T0 = '2024-03-01T12:00:00.000Z';

/** alpha: T0-4..T0; beta: T0-3..T0-1; gamma: T0 only; delta: T0-30, T0-29 (old). */
function seed(): SeedWindow[] {
  const rows: SeedWindow[] = [];
  const add = (stream: string, minute: number, v: Partial<SeedWindow>) =>
    rows.push({
      window_start: addMinutes(T0, minute),
      stream_id: stream,
      active_viewers: 0,
      chat_messages: 0,
      donations_usd: 0,
      donation_count: 0,
      viewer_joins: 0,
      viewer_leaves: 0,
      events: 1,
      is_final: true,
      ...v,
    });
  for (let k = 0; k < 5; k++) {
    add('alpha', k - 4, {
      active_viewers: 100 + k,
      chat_messages: 10 + k,
      donations_usd: k * 1.25,
      donation_count: k,
      viewer_joins: 2,
      viewer_leaves: 1,
      events: 20 + k,
      is_final: k < 4,
    });
  }
  add('beta', -3, { active_viewers: 50, chat_messages: 5, events: 5 });
  add('beta', -2, {
    active_viewers: 70,
    chat_messages: 5,
    donations_usd: 100.5,
    donation_count: 1,
    events: 6,
  });
  add('beta', -1, { active_viewers: 60, chat_messages: 5, events: 5 });
  add('gamma', 0, { active_viewers: 10, chat_messages: 14, donations_usd: 0.333333, donation_count: 1 });
  add('delta', -30, { active_viewers: 7, chat_messages: 3 });
  add('delta', -29, { active_viewers: 9, chat_messages: 4, donations_usd: 2, donation_count: 1 });
  return rows;
}

const SEED = seed();

/** What the API must answer, computed in plain JS from the seed. */
function expectedRow(w: SeedWindow) {
  return { ...w, window_end: addMinutes(w.window_start, 1), updated_at: UPDATED_AT };
}

function inRange(streamId: string | undefined, minutes: number) {
  const rows = SEED.filter((w) => streamId === undefined || w.stream_id === streamId);
  const latest = rows
    .map((w) => w.window_start)
    .sort()
    .at(-1);
  if (latest === undefined) return { latest: null, rows: [] };
  const from = Date.parse(latest) - minutes * 60_000;
  return {
    latest,
    rows: rows.filter((w) => Date.parse(w.window_start) > from && w.window_start <= latest).map(expectedRow),
  };
}

function byWindowThenStream(direction: 1 | -1) {
  return (a: SeedWindow, b: SeedWindow) =>
    a.window_start === b.window_start
      ? a.stream_id.localeCompare(b.stream_id)
      : direction * a.window_start.localeCompare(b.window_start);
}

function keyed(row: Record<string, unknown>) {
  const {
    window_start,
    window_end,
    stream_id,
    active_viewers,
    chat_messages,
    donations_usd,
    donation_count,
    viewer_joins,
    viewer_leaves,
    events,
    is_final,
    updated_at,
  } = row;
  return {
    window_start,
    window_end,
    stream_id,
    active_viewers,
    chat_messages,
    donations_usd,
    donation_count,
    viewer_joins,
    viewer_leaves,
    events,
    is_final,
    updated_at,
  };
}

let db: TestDatabase;
let app: FastifyInstance;

before(async () => {
  db = await createTestDatabase('api_read');
  await insertWindows(db.pool, SEED);
  await db.pool.query(
    `INSERT INTO stream_state (stream_id, active_viewers, last_event_at, updated_at) VALUES
       ('alpha', 104, '2024-03-01T12:00:59.5Z', $1), ('beta', 60, '2024-03-01T11:59:30Z', $1),
       ('gamma', 10, '2024-03-01T12:00:01Z', $1), ('delta', 9, '2024-03-01T11:31:00Z', $1)`,
    [UPDATED_AT],
  );
  ({ app } = await buildTestApi({ pool: db.pool }));
});

after(async () => {
  await app?.close();
  await db?.drop();
});

async function get(url: string) {
  const response = await app.inject({ method: 'GET', url });
  assert.equal(response.statusCode, 200, `${url}: ${response.body}`);
  assert.match(String(response.headers['content-type']), /^application\/json/);
  return response.json();
}

describe('GET /metrics', () => {
  test('defaults: the 10 minutes up to the latest window, newest first then stream_id, every field', async () => {
    const body = await get('/metrics');
    const expected = inRange(undefined, 10);
    assert.equal(body.latest_window_start, T0);
    assert.deepEqual(body.rows, expected.rows.sort(byWindowThenStream(-1)));
    assert.equal(body.next_offset, null);
    assert.deepEqual(
      Object.keys(body.rows[0]),
      Object.keys(keyed(body.rows[0])),
      'exactly the documented fields',
    );
    assert.deepEqual(body.rows[0], {
      window_start: T0,
      window_end: '2024-03-01T12:01:00.000Z',
      stream_id: 'alpha',
      active_viewers: 104,
      chat_messages: 14,
      donations_usd: 5,
      donation_count: 4,
      viewer_joins: 2,
      viewer_leaves: 1,
      events: 24,
      is_final: false,
      updated_at: UPDATED_AT,
    });
    assert.equal(typeof body.rows[0].donations_usd, 'number', 'donations_usd is a JSON number');
  });

  test('the lookback is anchored at the latest window, not at now()', async () => {
    const one = await get('/metrics?minutes=1');
    assert.deepEqual(
      one.rows.map((r: SeedWindow) => [r.window_start, r.stream_id]),
      [
        [T0, 'alpha'],
        [T0, 'gamma'],
      ],
    );
    const three = await get('/metrics?minutes=3');
    assert.deepEqual(
      three.rows.map((r: SeedWindow) => `${r.window_start.slice(11, 16)} ${r.stream_id}`),
      ['12:00 alpha', '12:00 gamma', '11:59 alpha', '11:59 beta', '11:58 alpha', '11:58 beta'],
    );
    const all = await get('/metrics?minutes=10080&limit=1000');
    assert.equal(all.rows.length, SEED.length, 'a week back reaches the old delta rows');
  });

  test('stream_id anchors at that stream’s own latest window', async () => {
    const body = await get('/metrics?stream_id=delta&minutes=1');
    assert.equal(body.latest_window_start, addMinutes(T0, -29));
    assert.deepEqual(body.rows, [
      expectedRow(SEED.find((w) => w.stream_id === 'delta' && w.active_viewers === 9)!),
    ]);
    const beta = await get('/metrics?stream_id=beta&minutes=2');
    assert.deepEqual(
      beta.rows.map((r: SeedWindow) => r.window_start),
      [addMinutes(T0, -1), addMinutes(T0, -2)],
    );
  });

  test('an unknown stream gives no rows and a null latest_window_start', async () => {
    assert.deepEqual(await get('/metrics?stream_id=nope'), {
      latest_window_start: null,
      rows: [],
      next_offset: null,
      next_cursor: null,
    });
  });

  test('limit and offset page through the same order, with next_offset', async () => {
    const expected = inRange(undefined, 10080).rows.sort(byWindowThenStream(-1));
    const seen: unknown[] = [];
    let offset: number | null = 0;
    let pages = 0;
    while (offset !== null) {
      const page = await get(`/metrics?minutes=10080&limit=3&offset=${offset}`);
      assert.ok(page.rows.length <= 3);
      seen.push(...page.rows);
      offset = page.next_offset;
      pages++;
    }
    assert.deepEqual(seen, expected);
    assert.equal(pages, Math.ceil(expected.length / 3));
    const past = await get('/metrics?minutes=10080&offset=1000');
    assert.deepEqual(past, { latest_window_start: T0, rows: [], next_offset: null, next_cursor: null });
  });
});

describe('GET /metrics/latest', () => {
  test('every stream in the newest window, provisional ones included', async () => {
    const body = await get('/metrics/latest');
    assert.equal(body.latest_window_start, T0);
    assert.deepEqual(
      body.rows,
      SEED.filter((w) => w.window_start === T0)
        .map(expectedRow)
        .sort(byWindowThenStream(-1)),
    );
    assert.equal(body.rows[0].is_final, false);
  });

  test('with stream_id: that stream’s newest window', async () => {
    const body = await get('/metrics/latest?stream_id=beta');
    assert.equal(body.latest_window_start, addMinutes(T0, -1));
    assert.equal(body.rows.length, 1);
    assert.equal(body.rows[0].active_viewers, 60);
    assert.deepEqual(await get('/metrics/latest?stream_id=nope'), {
      latest_window_start: null,
      rows: [],
      next_offset: null,
      next_cursor: null,
    });
  });

  test('paged by stream_id: limit and offset, next_offset until the last page', async () => {
    const all = (await get('/metrics/latest')).rows;
    assert.ok(all.length >= 2, 'the fixture has several streams in the newest window');
    const first = await get('/metrics/latest?limit=1');
    assert.deepEqual(first.rows, all.slice(0, 1));
    assert.equal(first.next_offset, 1);
    const last = await get(`/metrics/latest?limit=1&offset=${all.length - 1}`);
    assert.deepEqual(last.rows, all.slice(-1));
    assert.equal(last.next_offset, null);
    // Past the last page the newest window is still named (the page is read in SQL, not sliced).
    assert.deepEqual(await get(`/metrics/latest?offset=${all.length}`), {
      latest_window_start: T0,
      rows: [],
      next_offset: null,
      next_cursor: null,
    });
    assert.deepEqual(await get('/metrics/latest?stream_id=beta&offset=1'), {
      latest_window_start: addMinutes(T0, -1),
      rows: [],
      next_offset: null,
      next_cursor: null,
    });
  });
});

describe('keyset pagination (cursor)', () => {
  /** Every row of a walk from `first`, following next_cursor; the pages' sizes. */
  async function walk(first: string, cursor?: string): Promise<{ rows: unknown[]; sizes: number[] }> {
    const rows: unknown[] = [];
    const sizes: number[] = [];
    let url: string | null = cursor === undefined ? first : `${first}&cursor=${encodeURIComponent(cursor)}`;
    while (url !== null) {
      const page: { rows: unknown[]; next_cursor: string | null; next_offset: number | null } =
        await get(url);
      rows.push(...page.rows);
      sizes.push(page.rows.length);
      if (page.next_cursor !== null) assert.equal(typeof page.next_cursor, 'string');
      url = page.next_cursor === null ? null : `${first}&cursor=${encodeURIComponent(page.next_cursor)}`;
      if (sizes.length > 50) assert.fail(`${first}: the walk does not end`);
    }
    return { rows, sizes };
  }

  test('a walk by cursor gives the rows a walk by offset gives, in the same order', async () => {
    for (const [base, expected] of [
      ['/metrics?minutes=10080&limit=2', inRange(undefined, 10080).rows.sort(byWindowThenStream(-1))],
      ['/metrics?minutes=10080&limit=1', inRange(undefined, 10080).rows.sort(byWindowThenStream(-1))],
      ['/metrics?minutes=3&limit=2', inRange(undefined, 3).rows.sort(byWindowThenStream(-1))],
      ['/metrics?stream_id=alpha&minutes=60&limit=2', inRange('alpha', 60).rows.sort(byWindowThenStream(-1))],
      ['/metrics/history?minutes=10080&limit=3', inRange(undefined, 10080).rows.sort(byWindowThenStream(1))],
      [
        '/metrics/history?stream_id=alpha&minutes=60&limit=2',
        inRange('alpha', 60).rows.sort(byWindowThenStream(1)),
      ],
      ['/metrics/latest?limit=1', (await get('/metrics/latest')).rows],
      ['/state?limit=1', (await get('/state')).rows],
    ] as const) {
      const { rows, sizes } = await walk(base);
      assert.deepEqual(rows, expected, base);
      const limit = Number(/limit=(\d+)/.exec(base)?.[1]);
      assert.ok(
        sizes.slice(0, -1).every((n) => n === limit),
        `${base}: full pages before the last, ${sizes}`,
      );
      assert.ok(expected.length === 0 || (sizes.at(-1) ?? 0) > 0, `${base}: no empty last page`);
    }
  });

  test('a cursor keeps the range of the first page while new minutes arrive', async () => {
    const first = await get('/metrics?minutes=3&limit=2');
    const expected = inRange(undefined, 3).rows.sort(byWindowThenStream(-1));
    assert.deepEqual(first.rows, expected.slice(0, 2));
    await insertWindows(db.pool, [
      {
        ...SEED.find((w) => w.stream_id === 'gamma')!,
        window_start: addMinutes(T0, 1),
        stream_id: 'epsilon',
      },
    ]);
    try {
      const rest = await walk('/metrics?minutes=3&limit=2', first.next_cursor);
      assert.deepEqual(
        [...first.rows, ...rest.rows],
        expected,
        "the walk ends where the first page's range ends",
      );
      const shifted = await get('/metrics?minutes=3&limit=2&offset=2');
      assert.notDeepEqual(shifted.rows, expected.slice(2, 4), 'an offset page moved with the new minute');
    } finally {
      await db.pool.query(`DELETE FROM stream_metrics_minute WHERE stream_id = 'epsilon'`);
      await db.pool.query('SELECT rebuild_stream_summaries()');
    }
  });

  test('a cursor is the position in plain text, anything else a 400 that says so; an offset skips after it', async () => {
    const page = await get('/metrics?minutes=10080&limit=2');
    const [latest, windowStart, streamId] = (page.next_cursor as string).split('~');
    assert.equal(Number(latest), Date.parse(T0));
    assert.equal(Number(windowStart), Date.parse(page.rows[1].window_start));
    assert.equal(streamId, page.rows[1].stream_id);
    assert.equal((await get('/state?limit=1')).next_cursor, (await get('/state?limit=1')).rows[0].stream_id);
    assert.equal(
      (await get('/metrics/latest?limit=1')).next_cursor,
      `${Date.parse(T0)}~${(await get('/metrics/latest?limit=1')).rows[0].stream_id}`,
    );
    for (const [url, parameter] of [
      ['/metrics?cursor=nonsense', 'cursor'],
      ['/metrics?cursor=1~2', 'cursor'],
      ['/metrics/history?cursor=12345678901234~1~s', 'cursor'],
      ['/metrics/latest?cursor=x~alpha', 'cursor'],
    ] as const) {
      const response = await app.inject({ url });
      assert.equal(response.statusCode, 400, url);
      const body = response.json();
      assert.equal(body.error, 'invalid_parameter', url);
      assert.equal(body.parameter, parameter, url);
      assert.match(body.message, /matching \^/, url);
    }
    // With an offset, that many rows after the cursor are skipped.
    const all = inRange(undefined, 10080).rows.sort(byWindowThenStream(-1));
    for (const [base, rows] of [
      ['/metrics?minutes=10080', all],
      ['/metrics/history?minutes=10080', inRange(undefined, 10080).rows.sort(byWindowThenStream(1))],
      ['/metrics?minutes=10080&stream_id=alpha', all.filter((r) => r.stream_id === 'alpha')],
    ] as const) {
      const first = await get(`${base}&limit=1`);
      const skipped = await get(`${base}&limit=2&offset=1&cursor=${encodeURIComponent(first.next_cursor)}`);
      assert.deepEqual(skipped.rows, rows.slice(2, 4), base);
      assert.equal(skipped.next_offset, null, 'a page reached by cursor continues by cursor');
    }
    const newest = await get('/metrics/latest');
    const afterFirst = await get(
      `/metrics/latest?limit=5&offset=1&cursor=${encodeURIComponent((await get('/metrics/latest?limit=1')).next_cursor)}`,
    );
    assert.deepEqual(afterFirst.rows, newest.rows.slice(2, 7));
    const state = await get('/state');
    assert.deepEqual(
      (await get(`/state?cursor=${state.rows[0].stream_id}&offset=1`)).rows,
      state.rows.slice(2),
    );
    // Any position of the right form is a page (a stream_id may hold `~`); a stream_id of the
    // longest length still fits.
    const longest = '~'.repeat(MAX_ID_LENGTH);
    for (const url of [
      `/metrics?cursor=${Date.parse(T0)}~0~${encodeURIComponent(longest)}`,
      `/metrics/latest?cursor=0~${encodeURIComponent(longest)}`,
      `/state?cursor=${encodeURIComponent(longest)}`,
      `/state?cursor=${encodeURIComponent(encodeCursor({ kind: 'state', streamId: '\u0001'.repeat(MAX_ID_LENGTH) }))}`,
    ]) {
      assert.equal((await app.inject({ url })).statusCode, 200, url);
    }
  });
});

describe('GET /metrics/history', () => {
  test('the same range, oldest first then stream_id', async () => {
    const body = await get('/metrics/history?minutes=5');
    assert.equal(body.latest_window_start, T0);
    assert.deepEqual(body.rows, inRange(undefined, 5).rows.sort(byWindowThenStream(1)));
    assert.equal(body.next_offset, null);
  });

  test('one stream, paged', async () => {
    const first = await get('/metrics/history?stream_id=alpha&minutes=60&limit=2');
    assert.deepEqual(
      first.rows.map((r: SeedWindow) => r.window_start),
      [addMinutes(T0, -4), addMinutes(T0, -3)],
    );
    assert.equal(first.next_offset, 2);
    const rest = await get('/metrics/history?stream_id=alpha&minutes=60&limit=10&offset=2');
    assert.equal(rest.rows.length, 3);
    assert.equal(rest.next_offset, null);
  });
});

describe('GET /streams/top', () => {
  function expectedTop(minutes: number, by: 'donations_usd' | 'chat_messages' | 'active_viewers', n: number) {
    const { rows } = inRange(undefined, minutes);
    const streams = new Map<
      string,
      { donations_usd: number; chat_messages: number; last: string; active_viewers: number; windows: number }
    >();
    for (const r of rows) {
      const s = streams.get(r.stream_id) ?? {
        donations_usd: 0,
        chat_messages: 0,
        last: '',
        active_viewers: 0,
        windows: 0,
      };
      s.donations_usd += r.donations_usd;
      s.chat_messages += r.chat_messages;
      s.windows++;
      if (r.window_start > s.last) {
        s.last = r.window_start;
        s.active_viewers = r.active_viewers;
      }
      streams.set(r.stream_id, s);
    }
    return [...streams]
      .map(([stream_id, s]) => ({
        stream_id,
        donations_usd: Math.round(s.donations_usd * 1e6) / 1e6,
        chat_messages: s.chat_messages,
        active_viewers: s.active_viewers,
        windows: s.windows,
      }))
      .sort((a, b) => b[by] - a[by] || a.stream_id.localeCompare(b.stream_id))
      .slice(0, n);
  }

  for (const by of ['donations_usd', 'chat_messages', 'active_viewers'] as const) {
    test(`by=${by}: sums over the range, viewers of the latest window, ordered by ${by} desc then stream_id`, async () => {
      for (const minutes of [1, 3, 10, 60]) {
        const body = await get(`/streams/top?minutes=${minutes}&by=${by}&n=10`);
        assert.equal(body.latest_window_start, T0);
        assert.equal(body.by, by);
        assert.deepEqual(body.rows, expectedTop(minutes, by, 10), `minutes=${minutes}`);
      }
    });
  }

  test('defaults: by donations_usd, 10 minutes, n=5; ties break on stream_id', async () => {
    const body = await get('/streams/top');
    assert.equal(body.by, 'donations_usd');
    assert.deepEqual(body.rows, expectedTop(10, 'donations_usd', 5));
    assert.deepEqual(
      body.rows.map((r: { stream_id: string }) => r.stream_id),
      ['beta', 'alpha', 'gamma'],
    );
    // beta's latest window in range is T0-1 (60 viewers), not its busiest one (70).
    assert.equal(body.rows[0].active_viewers, 60);
    // alpha and gamma both have 14 chat messages at minutes=1: alpha first.
    const tie = await get('/streams/top?minutes=1&by=chat_messages');
    assert.deepEqual(
      tie.rows.map((r: { stream_id: string; chat_messages: number }) => [r.stream_id, r.chat_messages]),
      [
        ['alpha', 14],
        ['gamma', 14],
      ],
    );
    const n1 = await get('/streams/top?n=1&by=active_viewers');
    assert.deepEqual(
      n1.rows.map((r: { stream_id: string }) => r.stream_id),
      ['alpha'],
    );
  });
});

describe('GET /state', () => {
  test('rows by stream_id with total and pagination', async () => {
    const body = await get('/state');
    assert.equal(body.total, 4);
    assert.equal(body.next_offset, null);
    assert.deepEqual(body.rows[0], {
      stream_id: 'alpha',
      active_viewers: 104,
      last_event_at: '2024-03-01T12:00:59.500Z',
      updated_at: UPDATED_AT,
    });
    assert.deepEqual(
      body.rows.map((r: { stream_id: string }) => r.stream_id),
      ['alpha', 'beta', 'delta', 'gamma'],
    );
    const page = await get('/state?limit=2&offset=2');
    assert.deepEqual(
      page.rows.map((r: { stream_id: string }) => r.stream_id),
      ['delta', 'gamma'],
    );
    assert.equal(page.next_offset, null);
    assert.equal((await get('/state?limit=2')).next_offset, 2);
    const one = await get('/state?stream_id=gamma');
    assert.equal(one.total, 1);
    assert.equal(one.rows[0].active_viewers, 10);
    assert.deepEqual(await get('/state?stream_id=nope'), {
      rows: [],
      total: 0,
      next_offset: null,
      next_cursor: null,
    });
  });
});

describe('compression', () => {
  test('bodies are gzipped when it pays, for clients that accept it, with Vary', async () => {
    const url = '/metrics?minutes=10080&limit=1000';
    const plain = await app.inject({ url });
    assert.equal(plain.headers['content-encoding'], undefined);
    assert.equal(plain.headers.vary, 'accept-encoding');
    assert.ok(plain.body.length > 1024 && plain.body.length < ONE_OFF_GZIP_MIN_BYTES, `${plain.body.length}`);
    const oneOff = await app.inject({ url, headers: { 'accept-encoding': 'gzip, br' } });
    assert.equal(oneOff.headers['content-encoding'], undefined, 'a one-off body within one round trip');
    assert.equal(oneOff.headers.vary, 'accept-encoding');
    assert.equal(oneOff.body, plain.body);

    const cached = await buildTestApi({ pool: db.pool, cacheTtlMs: 60_000 });
    try {
      const first = await cached.app.inject({ url, headers: { 'accept-encoding': 'gzip' } });
      assert.equal(first.headers['content-encoding'], undefined);
      const gz = await cached.app.inject({ url, headers: { 'accept-encoding': 'gzip, br' } });
      assert.equal(gz.statusCode, 200);
      assert.equal(gz.headers['content-encoding'], 'gzip', 'a body sent again is compressed');
      assert.match(String(gz.headers['content-type']), /^application\/json/);
      assert.equal(gunzipSync(gz.rawPayload).toString(), plain.body);
      const zst = await cached.app.inject({ url, headers: { 'accept-encoding': 'gzip, deflate, br, zstd' } });
      assert.equal(zst.headers['content-encoding'], 'zstd', "a browser's header gets zstd");
      assert.equal(zst.headers.vary, 'accept-encoding');
      assert.equal(zstdDecompressSync(zst.rawPayload).toString(), plain.body);
      const refused = await cached.app.inject({ url, headers: { 'accept-encoding': 'gzip;q=0' } });
      assert.equal(refused.headers['content-encoding'], undefined);
      assert.equal(refused.body, plain.body);
    } finally {
      await cached.app.close();
    }
    const small = await app.inject({
      url: '/metrics/latest?stream_id=nope',
      headers: { 'accept-encoding': 'gzip' },
    });
    assert.equal(small.headers['content-encoding'], undefined, 'tiny bodies are sent as they are');
  });
});

describe('an empty table', () => {
  test('every read endpoint answers with empty rows and a null latest_window_start', async () => {
    const empty = await createTestDatabase('api_empty');
    const { app: emptyApp } = await buildTestApi({ pool: empty.pool });
    try {
      for (const url of ['/metrics', '/metrics/latest', '/metrics/history', '/streams/top', '/state']) {
        const response = await emptyApp.inject({ url });
        assert.equal(response.statusCode, 200, url);
        const body = response.json();
        assert.deepEqual(body.rows, [], url);
        if (url !== '/state') assert.equal(body.latest_window_start, null, url);
      }
    } finally {
      await emptyApp.close();
      await empty.drop();
    }
  });
});

describe('the response cache', () => {
  /** Reads of the windows so far (memory and Postgres): a cache hit reads nothing. */
  const reads = async (registry: Registry) =>
    ((await registry.getSingleMetric('api_window_reads_total')?.get())?.values ?? []).reduce(
      (sum, v) => sum + v.value,
      0,
    );

  test('memory off: identical requests within the TTL share one result; other parameters do not', async () => {
    const cached = await buildTestApi({ pool: db.pool, cacheTtlMs: 60_000, windowMemoryMs: 0 });
    try {
      const before = await cached.app.inject({ url: '/metrics/latest' });
      await db.pool.query(`UPDATE stream_metrics_minute SET chat_messages = 999 WHERE stream_id = 'gamma'`);
      const again = await cached.app.inject({ url: '/metrics/latest' });
      assert.equal(again.body, before.body, 'served from the cache');
      const other = await cached.app.inject({ url: '/metrics/latest?stream_id=gamma' });
      assert.equal(other.json().rows[0].chat_messages, 999, 'other parameters query afresh');
      const fresh = await app.inject({ url: '/metrics/latest' });
      assert.notEqual(fresh.body, before.body, 'the uncached app sees the change');
    } finally {
      await db.pool.query(`UPDATE stream_metrics_minute SET chat_messages = 14 WHERE stream_id = 'gamma'`);
      await cached.app.close();
    }
  });

  test('memory on: a cached answer lasts only until the API hears of a change, not the TTL', async () => {
    const cached = await buildTestApi({ pool: db.pool, cacheTtlMs: 60_000 });
    try {
      // (/streams/top ranks by the running totals, which a hand-made UPDATE does not move.)
      for (const url of ['/metrics/latest', '/metrics?minutes=10', '/state']) {
        const first = await cached.app.inject({ url });
        const readsBefore = await reads(cached.registry);
        const same = await cached.app.inject({ url });
        assert.equal(same.body, first.body, url);
        assert.equal(
          await reads(cached.registry),
          readsBefore,
          `${url}: nothing changed, served from the cache`,
        );

        await db.pool.query(
          `UPDATE stream_metrics_minute SET chat_messages = chat_messages + 1000 WHERE stream_id = 'gamma'`,
        );
        await db.pool.query(
          `UPDATE stream_state SET active_viewers = active_viewers + 1000 WHERE stream_id = 'gamma'`,
        );
        // Any read waits until the API has applied every change committed before it.
        await cached.app.inject({ url: '/metrics/latest?stream_id=nope' });
        const after = await cached.app.inject({ url });
        assert.notEqual(after.body, first.body, `${url}: the change is seen within the TTL`);
        assert.equal(after.body, (await app.inject({ url })).body, `${url}: as the uncached app answers`);
      }
    } finally {
      await db.pool.query(
        `UPDATE stream_metrics_minute SET chat_messages = chat_messages - 3000 WHERE stream_id = 'gamma'`,
      );
      await db.pool.query(
        `UPDATE stream_state SET active_viewers = active_viewers - 3000 WHERE stream_id = 'gamma'`,
      );
      await cached.app.close();
    }
  });

  test('memory on, the store held behind a commit for longer than a request waits: the cache is not served', {
    timeout: 30_000,
  }, async () => {
    const cached = await buildTestApi({ pool: db.pool, cacheTtlMs: 60_000 });
    const writer = await db.pool.connect();
    const locker = await db.pool.connect();
    try {
      const first = await cached.app.inject({ url: '/metrics/latest' });
      // The change commits, and a lock taken at that instant holds the store's re-read of it back
      // (its SELECT queues behind the lock) for longer than a request waits for the store (2 s).
      await writer.query('BEGIN');
      await writer.query(
        `UPDATE stream_metrics_minute SET chat_messages = chat_messages + 1000 WHERE stream_id = 'gamma'`,
      );
      await locker.query('BEGIN');
      const locked = locker.query('LOCK TABLE stream_metrics_minute IN ACCESS EXCLUSIVE MODE');
      await until('the lock waits for the update', async () => {
        const { rows } = await db.pool.query<{ n: number }>(
          `SELECT count(*)::int AS n FROM pg_locks WHERE NOT granted AND mode = 'AccessExclusiveLock'`,
        );
        return rows[0]!.n > 0 ? true : undefined;
      });
      await writer.query('COMMIT');
      await locked;
      const release = setTimeout(() => void locker.query('COMMIT'), 5_000);
      // This request gives up on the store after 2 s and reads Postgres, which waits for the lock;
      // the next one, while the store is still behind, must not be answered from the cache.
      const barrier = cached.app.inject({ url: '/metrics/latest?stream_id=gamma' });
      await new Promise((resolve) => setTimeout(resolve, 2_500));
      const after = await cached.app.inject({ url: '/metrics/latest' });
      clearTimeout(release);
      await locker.query('COMMIT').catch(() => {});
      assert.equal(
        (await barrier).json().rows[0].chat_messages,
        1014,
        'the request after the commit sees it',
      );
      assert.notEqual(after.body, first.body, 'a cached answer from before the commit is not served');
    } finally {
      await locker.query('ROLLBACK').catch(() => {});
      locker.release();
      writer.release();
      await db.pool.query(
        `UPDATE stream_metrics_minute SET chat_messages = chat_messages - 1000 WHERE stream_id = 'gamma'`,
      );
      await cached.app.close();
    }
  });
});

/**
 * Helpers for the dashboard tests: plausible history for a few streams, a writer that keeps the
 * current minute moving like a running processor, a dashboard app on a test database, and a reader
 * of Server-Sent Events frames.
 */
import type { FastifyInstance } from 'fastify';
import type pg from 'pg';
import { type DashboardDeps, dashboard, type LiveSnapshot } from '../../../src/realtime/dashboard/index.ts';
import { silentLogger } from '../../../src/telemetry/logger.ts';
import { buildTestApi } from '../api/fixtures.ts';

export const STREAMS = [
  'stream_1001',
  'stream_1002',
  'stream_1003',
  'stream_1004',
  'stream_1005',
  'stream_1006',
];

/** A deterministic pseudo-random sequence (mulberry32). */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const MINUTE = 60_000;

/**
 * `minutes` closed windows for each stream, ending just before the current minute, with viewers
 * that rise and fall, chat that follows them, and occasional donations; and stream_state.
 */
export async function seedHistory(pool: pg.Pool, minutes = 45): Promise<void> {
  const rand = random(42);
  const now = Math.floor(Date.now() / MINUTE) * MINUTE;
  const rows: unknown[][] = [];
  STREAMS.forEach((stream, s) => {
    const base = 40 + s * 35;
    for (let i = minutes; i >= 1; i--) {
      const start = new Date(now - i * MINUTE);
      const wave = Math.sin((minutes - i) / (5 + s)) * 0.35 + 1;
      const viewers = Math.max(0, Math.round(base * wave + (rand() - 0.5) * base * 0.2));
      const chat = Math.round(viewers * (0.3 + rand() * 0.5));
      const donationCount = rand() < 0.55 ? Math.floor(rand() * (2 + s / 2)) : 0;
      const donations = Math.round(donationCount * (2 + rand() * 18) * 100) / 100;
      rows.push([start, stream, viewers, chat, donations, donationCount, i > 10]);
    }
  });
  await pool.query(
    `INSERT INTO stream_metrics_minute (window_start, stream_id, window_end, active_viewers, chat_messages,
       donations_usd, donation_count, viewer_joins, viewer_leaves, events, is_final, updated_at)
     SELECT r.ws, r.sid, r.ws + interval '1 minute', r.v, r.c, r.d, r.dc, r.v, 0, r.c + r.dc + r.v, r.f,
            r.ws + interval '1 minute'
     FROM unnest($1::timestamptz[], $2::text[], $3::int[], $4::int[], $5::numeric[], $6::int[], $7::bool[])
       AS r(ws, sid, v, c, d, dc, f)`,
    [0, 1, 2, 3, 4, 5, 6].map((k) => rows.map((r) => r[k])),
  );
  await pool.query('SELECT rebuild_stream_summaries()');
  await pool.query(
    `INSERT INTO stream_state (stream_id, active_viewers, last_event_at, updated_at)
     SELECT stream_id, active_viewers, window_end, now()
     FROM stream_metrics_minute WHERE window_start = (SELECT max(window_start) FROM stream_metrics_minute)`,
  );
}

const UPSERT_SQL = `
INSERT INTO stream_metrics_minute AS m (window_start, stream_id, window_end, active_viewers, chat_messages,
  donations_usd, donation_count, viewer_joins, viewer_leaves, events, is_final, updated_at)
SELECT date_trunc('minute', now()), u.sid, date_trunc('minute', now()) + interval '1 minute',
       coalesce(s.active_viewers, 0), u.c, u.d, u.dc, 0, 0, u.c + u.dc, false, now()
FROM unnest($1::text[], $2::int[], $3::numeric[], $4::int[]) AS u(sid, c, d, dc)
LEFT JOIN stream_state s ON s.stream_id = u.sid
ON CONFLICT (window_start, stream_id) DO UPDATE SET
  active_viewers = EXCLUDED.active_viewers,
  chat_messages = m.chat_messages + EXCLUDED.chat_messages,
  donations_usd = m.donations_usd + EXCLUDED.donations_usd,
  donation_count = m.donation_count + EXCLUDED.donation_count,
  events = m.events + EXCLUDED.events,
  updated_at = now()`;

const STATE_SQL = `
UPDATE stream_state s SET active_viewers = greatest(0, s.active_viewers + u.dv), last_event_at = now(),
  updated_at = now()
FROM unnest($1::text[], $2::int[]) AS u(sid, dv)
WHERE s.stream_id = u.sid`;

/** Adds chat, donations and viewer changes to the current minute every `everyMs`, as a processor would. */
export class LiveWriter {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> = Promise.resolve();
  private readonly rand = random(7);
  private readonly pool: pg.Pool;
  private readonly everyMs: number;
  writes = 0;

  constructor(pool: pg.Pool, everyMs = 200) {
    this.pool = pool;
    this.everyMs = everyMs;
  }

  start(): void {
    this.timer = setInterval(() => {
      this.running = this.running.then(() => this.write()).catch(() => {});
    }, this.everyMs);
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.running;
  }

  private async write(): Promise<void> {
    const r = this.rand;
    const dv = STREAMS.map(() => Math.round((r() - 0.45) * 3));
    const chat = STREAMS.map((_, s) => 1 + Math.floor(r() * (3 + s)));
    const dc = STREAMS.map(() => (r() < 0.15 ? 1 : 0));
    const usd = dc.map((n) => (n === 0 ? 0 : Math.round((1 + r() * 25) * 100) / 100));
    await this.pool.query(STATE_SQL, [STREAMS, dv]);
    await this.pool.query(UPSERT_SQL, [STREAMS, chat, usd, dc]);
    // Written by hand, not by the results writer: the read summaries come from the same SQL it keeps.
    await this.pool.query('SELECT rebuild_stream_summaries()');
    this.writes++;
  }
}

/** The API app, which registers the dashboard (with these options). */
export async function buildDashboardApp(
  pool: pg.Pool,
  extra: Partial<Omit<DashboardDeps, 'pool' | 'logger'>> = {},
): Promise<FastifyInstance> {
  const { status, live } = extra;
  // The dashboard reads Postgres itself: the API's windows in memory (and their connection) stay off.
  const { app } = await buildTestApi({ pool, windowMemoryMs: 0, ...(status ? { status } : {}) });
  // Mounted beside the API exactly as the runtime does.
  await app.register(dashboard, { pool, logger: silentLogger(), status, live });
  return app;
}

/**
 * Reads Server-Sent Events from a byte stream until `count` data frames arrived; also returns the
 * comment lines seen. Fails after `deadlineMs`.
 */
export async function readFrames(
  body: AsyncIterable<Uint8Array | string>,
  count: number,
  deadlineMs = 10_000,
): Promise<{ frames: LiveSnapshot[]; comments: string[]; raw: string }> {
  const frames: LiveSnapshot[] = [];
  const comments: string[] = [];
  let raw = '';
  let buffer = '';
  const decoder = new TextDecoder();
  const iterator = body[Symbol.asyncIterator]();
  const deadline = Date.now() + deadlineMs;
  while (frames.length < count) {
    const left = deadline - Date.now();
    if (left <= 0) throw new Error(`read ${frames.length} of ${count} SSE frames within ${deadlineMs} ms`);
    let timer: NodeJS.Timeout | undefined;
    const next = await Promise.race([
      iterator.next(),
      new Promise<'timeout'>((resolve) => {
        timer = setTimeout(() => resolve('timeout'), left);
      }),
    ]);
    clearTimeout(timer);
    if (next === 'timeout') continue;
    if (next.done) throw new Error(`the event stream ended after ${frames.length} frames`);
    const text = typeof next.value === 'string' ? next.value : decoder.decode(next.value, { stream: true });
    raw += text;
    buffer += text;
    let end = buffer.indexOf('\n\n');
    while (end >= 0) {
      const event = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      for (const line of event.split('\n')) {
        if (line.startsWith('data: ')) frames.push(JSON.parse(line.slice(6)) as LiveSnapshot);
        else if (line.startsWith(':')) comments.push(line.slice(1).trim());
      }
      end = buffer.indexOf('\n\n');
    }
  }
  return { frames, comments, raw };
}

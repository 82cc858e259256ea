/**
 * API under load: 1,000 streams × 24 h of minute windows (1.44M rows) in Postgres, `rtsa serve`
 * in a child process, autocannon (this process) on loopback against every read endpoint, in two
 * modes, one after the other:
 *   single    one identical URL per endpoint, the response cache on (its default 250 ms): what a
 *             wall of dashboards polling the same view costs;
 *   distinct  the cache off and every request different (a random stream, range and page), so
 *             each one runs its queries: what the queries themselves cost.
 */
import { readFile } from 'node:fs/promises';
import autocannon from 'autocannon';
import pg from 'pg';
import { migrate } from '../src/db/index.ts';
import { createRandom } from '../src/generator/random.ts';
import { waitFor, withServe } from './child.ts';
import { encodeCursor } from '../src/realtime/api/cursor.ts';
import { benchAcceptEncoding, cpuMicrosPerRequest, processCpuSeconds, scratch } from './harness.ts';
import { cpuSeconds } from './kafka-harness.ts';
import type { BenchOptions } from './options.ts';

const STREAMS = 1000;
const FIRST_STREAM = 1001;
const MINUTES = 1440;

interface Endpoint {
  name: string;
  /** The URL of the single-URL mode. */
  single: string;
  /** A fresh URL for each request of the distinct mode. */
  distinct: (r: () => number) => string;
}

/** Concurrent connections (RTSA_BENCH_CONNECTIONS; 1 shows a request's cost without contention). */
const CONNECTIONS = Number(process.env.RTSA_BENCH_CONNECTIONS ?? 64);

const pick = (r: () => number, n: number) => Math.floor(r() * n);
/** The newest window_start of the seeded table (ISO), for the cursors of the distinct mode. */
let latest = '';
const stream = (r: () => number) => `stream_${FIRST_STREAM + pick(r, STREAMS)}`;

/** Waits until the server holds every window in memory (unless turned off); says how long that took and the server's memory. */
async function windowsLoaded(base: string, pid: number, memory: string | undefined): Promise<void> {
  const began = performance.now();
  const off = memory !== undefined && parseFloat(memory) === 0;
  if (!off)
    await waitFor(
      'the windows in memory',
      async () => {
        const text = await (await fetch(`${base}/prometheus`)).text();
        const held = Number(/^api_windows_in_memory (\S+)$/m.exec(text)?.[1] ?? 0);
        return held >= STREAMS * MINUTES ? true : undefined;
      },
      300_000,
    );
  const rss = /VmRSS:\s+(\d+) kB/.exec(await readFile(`/proc/${pid}/status`, 'utf8').catch(() => ''))?.[1];
  console.error(
    `windows in memory after ${((performance.now() - began) / 1000).toFixed(1)} s; server RSS ${rss === undefined ? '?' : `${Math.round(Number(rss) / 1024)} MiB`}`,
  );
}

const ENDPOINTS: Endpoint[] = [
  {
    name: '/metrics/latest',
    single: '/metrics/latest',
    distinct: (r) => `/metrics/latest?limit=${10 + pick(r, 91)}&offset=${pick(r, 900)}`,
  },
  {
    name: '/metrics/latest?stream_id=',
    single: '/metrics/latest?stream_id=stream_1500',
    distinct: (r) => `/metrics/latest?stream_id=${stream(r)}`,
  },
  {
    name: '/metrics',
    single: '/metrics?minutes=10&limit=100',
    distinct: (r) =>
      `/metrics?minutes=${1 + pick(r, 60)}&limit=${10 + pick(r, 91)}&offset=${pick(r, 10) * 100}`,
  },
  {
    // The same pages walked by cursor (a position anywhere in the range, as a next_cursor names it).
    name: '/metrics?cursor',
    single: '/metrics?minutes=10&limit=100',
    distinct: (r) => {
      const minutes = 1 + pick(r, 60);
      const windowStart = new Date(Date.parse(latest) - pick(r, minutes) * 60_000).toISOString();
      const cursor = encodeCursor({ kind: 'range', latest, windowStart, streamId: stream(r) });
      return `/metrics?minutes=${minutes}&limit=${10 + pick(r, 91)}&cursor=${cursor}`;
    },
  },
  {
    name: '/metrics/latest?cursor',
    single: '/metrics/latest',
    distinct: (r) =>
      `/metrics/latest?limit=${10 + pick(r, 91)}&cursor=${encodeCursor({ kind: 'latest', latest, streamId: stream(r) })}`,
  },
  {
    name: '/metrics?stream_id=',
    single: '/metrics?minutes=60&stream_id=stream_1500',
    distinct: (r) =>
      `/metrics?minutes=${1 + pick(r, MINUTES)}&limit=${10 + pick(r, 91)}&stream_id=${stream(r)}`,
  },
  {
    name: '/metrics/history?stream_id=',
    single: '/metrics/history?minutes=60&stream_id=stream_1500',
    distinct: (r) =>
      `/metrics/history?minutes=${1 + pick(r, MINUTES)}&limit=${10 + pick(r, 191)}&stream_id=${stream(r)}`,
  },
  {
    name: '/streams/top',
    single: '/streams/top?minutes=10&by=donations_usd&n=5',
    distinct: (r) =>
      `/streams/top?minutes=${1 + pick(r, 60)}&by=${['donations_usd', 'chat_messages', 'active_viewers'][pick(r, 3)]}&n=${1 + pick(r, 20)}`,
  },
  {
    name: '/state',
    single: '/state',
    distinct: (r) => `/state?limit=${10 + pick(r, 91)}&offset=${pick(r, 900)}`,
  },
  {
    name: '/prometheus',
    single: '/prometheus',
    distinct: () => '/prometheus',
  },
];

/** Migrates and fills an empty database with the benchmark's windows and state. */
export async function seed(pgUrl: string): Promise<void> {
  const pool = new pg.Pool({ connectionString: pgUrl, max: 2 });
  try {
    await migrate(pool);
    const started = performance.now();
    // In time order, as the processor writes them, with the running totals the results writer keeps
    // (computed here set-based; rebuild_stream_summaries() below checks them and fills
    // stream_latest_window).
    await pool.query(`
      INSERT INTO stream_metrics_minute (window_start, stream_id, window_end, active_viewers, chat_messages,
        donations_usd, donation_count, viewer_joins, viewer_leaves, events, is_final,
        cum_donations_usd, cum_chat_messages, cum_windows)
      SELECT m, sid, m + interval '1 minute', av, cm, du, dc, vj, vl, 60, true,
             sum(du) OVER w, sum(cm) OVER w, count(*) OVER w
      FROM (
        SELECT m, 'stream_' || s AS sid, (s * 7 + extract(minute from m)::int) % 500 AS av,
               (s + extract(minute from m)::int) % 40 AS cm, ((s * 13) % 100)::numeric / 4 AS du,
               (s % 5) AS dc, s % 9 AS vj, s % 7 AS vl
        FROM generate_series(date_trunc('minute', now()) - interval '${MINUTES - 1} minutes', date_trunc('minute', now()), interval '1 minute') AS m,
             generate_series(${FIRST_STREAM}, ${FIRST_STREAM + STREAMS - 1}) AS s
      ) g
      WINDOW w AS (PARTITION BY sid ORDER BY m)
      ORDER BY m, sid`);
    await pool.query('SELECT rebuild_stream_summaries()');
    await pool.query(
      `INSERT INTO stream_state SELECT 'stream_' || s, s % 500, now(), now()
       FROM generate_series(${FIRST_STREAM}, ${FIRST_STREAM + STREAMS - 1}) s`,
    );
    await pool.query('VACUUM ANALYZE');
    console.log(
      `seeded ${(STREAMS * MINUTES).toLocaleString('en')} windows in ${((performance.now() - started) / 1000).toFixed(1)} s`,
    );
  } finally {
    await pool.end();
  }
}

async function load(
  base: string,
  endpoint: Endpoint,
  mode: 'single' | 'distinct',
  seconds: number,
  serverPid: number,
): Promise<Record<string, unknown>> {
  const r = createRandom(7);
  const seen = new Set<string>();
  const serverBefore = processCpuSeconds(serverPid);
  const postgresBefore = cpuSeconds().postgres ?? 0;
  const r2 = await autocannon({
    url: `${base}${endpoint.single}`,
    connections: CONNECTIONS,
    duration: seconds,
    headers: { 'accept-encoding': benchAcceptEncoding() },
    ...(mode === 'distinct'
      ? {
          requests: [
            {
              setupRequest: (req: { path: string }) => {
                req.path = endpoint.distinct(r);
                seen.add(req.path);
                return req;
              },
            },
          ],
        }
      : {}),
  } as autocannon.Options);
  const row = {
    mode,
    endpoint: endpoint.name,
    requests_per_second: Math.round(r2.requests.average),
    p50_ms: r2.latency.p50,
    p99_ms: r2.latency.p99,
    errors: r2.errors + r2.non2xx,
    ...(mode === 'distinct' ? { distinct_urls: seen.size } : {}),
    // CPU per answer, the server's and Postgres': steadier than req/s on a machine whose speed varies.
    server_cpu_us_per_request: cpuMicrosPerRequest(
      processCpuSeconds(serverPid) - serverBefore,
      r2.requests.total,
    ),
    postgres_cpu_us_per_request: cpuMicrosPerRequest(
      (cpuSeconds().postgres ?? 0) - postgresBefore,
      r2.requests.total,
    ),
  };
  console.log(JSON.stringify(row));
  return row;
}

export async function runApiLoad(opts: BenchOptions): Promise<Record<string, unknown>> {
  const env = await scratch();
  try {
    await seed(env.pgUrl);
    const pool = new pg.Pool({ connectionString: env.pgUrl, max: 1 });
    latest = (
      await pool.query<{ latest: Date }>('SELECT max(window_start) AS latest FROM stream_metrics_minute')
    ).rows[0]!.latest.toISOString();
    await pool.end();
    const seconds = Math.max(5, Math.round(opts.seconds / 3));
    const only = process.env.RTSA_BENCH_ENDPOINTS?.split(',');
    const endpoints = only ? ENDPOINTS.filter((e) => only.includes(e.name)) : ENDPOINTS;
    // RTSA_BENCH_WINDOW_MEMORY=0 measures every request on Postgres (the server's path before issue 14's read model).
    const memory = process.env.RTSA_BENCH_WINDOW_MEMORY;
    const serveArgs = memory === undefined ? [] : ['--api-window-memory', memory];
    const single = await withServe(env, ['--api-cache-ttl', '250ms', ...serveArgs], async (base, pid) => {
      await windowsLoaded(base, pid, memory);
      const rows = [];
      for (const e of endpoints) rows.push(await load(base, e, 'single', seconds, pid));
      return rows;
    });
    const distinct = await withServe(env, ['--api-cache-ttl', '0ms', ...serveArgs], async (base, pid) => {
      await windowsLoaded(base, pid, memory);
      const rows = [];
      for (const e of endpoints) rows.push(await load(base, e, 'distinct', seconds, pid));
      return rows;
    });
    return {
      single,
      distinct,
      setup:
        `1,000 streams x 24 h of windows (1.44M rows); rtsa serve (1 process); autocannon ${CONNECTIONS} connections, ` +
        `Accept-Encoding: ${benchAcceptEncoding()}, ${seconds} s per endpoint and mode, same 2-core machine. single: one URL, 250 ms ` +
        'response cache; distinct: cache off, a random stream/range/page (offset or cursor) per request',
    };
  } finally {
    await env.close();
  }
}

/**
 * System B's serving under load, against `rtsa serve` in a child process (its own core, as
 * deployed), from this process on loopback:
 *   kpi   marts at scale (10 years of daily_active_users, 1M revenue_per_user, 500k churn_risk rows,
 *         the SPEC §6.5 columns), autocannon with 64 connections and a different URL for every
 *         request (random ranges, sizes, pages, levels): requests/s and latency per endpoint.
 *   feed  1,000 viewers on GET /kpi/feed while 1,000 commerce events a second are posted to
 *         POST /events: events delivered per viewer, delivery lag (event time to arrival, on 10
 *         sampled viewers), skipped markers, and the server's resident memory.
 */
import { readFileSync } from 'node:fs';
import http from 'node:http';
import { Worker } from 'node:worker_threads';
import autocannon from 'autocannon';
import pg from 'pg';
import { migrate } from '../src/db/index.ts';
import { createRandom } from '../src/generator/random.ts';
import { ensureKpiIndexes } from '../src/lakehouse/serving/index.ts';
import { withServe } from './child.ts';
import {
  benchAcceptEncoding,
  cpuMicrosPerRequest,
  percentile,
  processCpuSeconds,
  scratch,
} from './harness.ts';
import type { BenchOptions } from './options.ts';

const MARTS = `
CREATE SCHEMA IF NOT EXISTS marts;
CREATE TABLE marts.daily_active_users (
  activity_date date PRIMARY KEY, daily_active_users bigint NOT NULL, total_events bigint NOT NULL,
  sessions bigint NOT NULL, signups bigint NOT NULL, avg_events_per_user numeric(12,2) NOT NULL);
CREATE TABLE marts.revenue_per_user (
  user_id text PRIMARY KEY, total_purchases bigint NOT NULL, total_revenue_usd numeric(14,2) NOT NULL,
  total_items bigint NOT NULL, avg_order_value_usd numeric(14,2) NOT NULL, first_purchase_at timestamptz NOT NULL,
  last_purchase_at timestamptz NOT NULL, customer_lifespan_days integer NOT NULL, plan_type text, user_tier text);
CREATE TABLE marts.churn_risk (
  user_id text PRIMARY KEY, last_activity_at timestamptz NOT NULL, days_since_last_activity integer NOT NULL,
  churn_risk_level text NOT NULL, as_of_date date NOT NULL);
INSERT INTO marts.daily_active_users
SELECT date '2015-01-01' + i, 50000 + (i * 37) % 9000, 400000 + i, 90000, 3000, 8.1 FROM generate_series(0, 3649) i;
INSERT INTO marts.revenue_per_user
SELECT 'user_' || i, 1 + i % 9, (i::bigint * 7919 % 1000000) / 100.0, 1 + i % 13, 25.5, now() - interval '90 days', now(),
       90, 'free', 'silver' FROM generate_series(1, 1000000) i;
INSERT INTO marts.churn_risk
SELECT 'user_' || i, now() - (7 + i % 80) * interval '1 day', 7 + i % 80,
       CASE WHEN 7 + i % 80 >= 30 THEN 'high' WHEN 7 + i % 80 >= 14 THEN 'medium' ELSE 'low' END, current_date
FROM generate_series(1, 500000) i;`;

const pick = (r: () => number, n: number) => Math.floor(r() * n);
const day = (i: number) => new Date(Date.UTC(2015, 0, 1) + i * 86_400_000).toISOString().slice(0, 10);

const ENDPOINTS: { name: string; distinct: (r: () => number) => string }[] = [
  {
    name: '/kpi/daily-active-users',
    distinct: (r) => {
      const from = pick(r, 3600);
      return `/kpi/daily-active-users?from=${day(from)}&to=${day(from + 1 + pick(r, 60))}&limit=${10 + pick(r, 91)}`;
    },
  },
  { name: '/kpi/revenue', distinct: (r) => `/kpi/revenue?n=${1 + pick(r, 100)}&offset=${pick(r, 10_000)}` },
  {
    name: '/kpi/churn-risk',
    distinct: (r) =>
      `/kpi/churn-risk?level=${['low', 'medium', 'high'][pick(r, 3)]}&n=${1 + pick(r, 100)}&offset=${pick(r, 5000)}`,
  },
  { name: '/kpi/summary', distinct: () => '/kpi/summary' },
];

export async function runKpiLoad(opts: BenchOptions): Promise<Record<string, unknown>> {
  const env = await scratch();
  try {
    const pool = new pg.Pool({ connectionString: env.pgUrl, max: 2 });
    const started = performance.now();
    await migrate(pool);
    await pool.query(MARTS);
    await ensureKpiIndexes(pool);
    await pool.query('VACUUM ANALYZE');
    await pool.end();
    console.log(`seeded the marts in ${((performance.now() - started) / 1000).toFixed(1)} s`);
    const seconds = Math.max(5, Math.round(opts.seconds / 3));
    const rows = await withServe(env, [], async (base, pid) => {
      const out = [];
      // RTSA_BENCH_KPI_ENDPOINT=/kpi/revenue measures one endpoint.
      const only = process.env.RTSA_BENCH_KPI_ENDPOINT;
      for (const endpoint of ENDPOINTS.filter((e) => only === undefined || e.name === only)) {
        // Every URL shape answers 200 before it is measured (a non-2xx would be a bug, not load).
        const check = createRandom(99);
        for (let i = 0; i < 200; i++) {
          const url = endpoint.distinct(check);
          const res = await fetch(`${base}${url}`);
          if (res.status !== 200) throw new Error(`${url}: HTTP ${res.status} ${await res.text()}`);
          await res.arrayBuffer();
        }
        const r = createRandom(11);
        const seen = new Set<string>();
        const cpuBefore = processCpuSeconds(pid);
        const result = await autocannon({
          url: `${base}${endpoint.distinct(r)}`,
          connections: 64,
          duration: seconds,
          headers: { 'accept-encoding': benchAcceptEncoding() },
          requests: [
            {
              setupRequest: (req: { path: string }) => {
                req.path = endpoint.distinct(r);
                seen.add(req.path);
                return req;
              },
            },
          ],
        } as autocannon.Options);
        const row = {
          endpoint: endpoint.name,
          requests_per_second: Math.round(result.requests.average),
          p50_ms: result.latency.p50,
          p99_ms: result.latency.p99,
          errors: result.errors + result.non2xx,
          timeouts: result.timeouts,
          non_2xx: result.non2xx,
          distinct_urls: seen.size,
          // The server's CPU per answer: steadier than req/s on a machine whose speed varies.
          server_cpu_us_per_request: cpuMicrosPerRequest(
            processCpuSeconds(pid) - cpuBefore,
            result.requests.total,
          ),
        };
        console.log(JSON.stringify(row));
        out.push(row);
      }
      return out;
    });
    return {
      rows,
      setup:
        'marts: 3,650 days of daily_active_users, 1M revenue_per_user, 500k churn_risk rows with the KPI indexes; ' +
        `rtsa serve (1 process, no response cache on /kpi), autocannon 64 connections in this process ` +
        `(Accept-Encoding: ${benchAcceptEncoding()}), ${seconds} s ` +
        'per endpoint, a random range/size/page/level per request (/kpi/summary is one URL, shared for 5 s by design); ' +
        'same 2-core machine, shared with other work',
    };
  } finally {
    await env.close();
  }
}

/** The server's resident memory in MiB (Linux). */
function rssMiB(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Math.round(Number(m[1]) / 1024) : Number.NaN;
}

const NEEDLE = Buffer.from('"event_id":"');

interface FeedViewer {
  events: number;
  skippedMarkers: number;
  lags: number[] | undefined;
  req: http.ClientRequest;
}

function openViewer(base: string, agent: http.Agent, sample: boolean): Promise<FeedViewer> {
  return new Promise((resolve, reject) => {
    const viewer: FeedViewer = {
      events: 0,
      skippedMarkers: 0,
      lags: sample ? [] : undefined,
      req: undefined as never,
    };
    viewer.req = http.get(`${base}/kpi/feed?recent=0`, { agent }, (res) => {
      if (res.statusCode !== 200) return reject(new Error(`viewer got HTTP ${res.statusCode}`));
      let carry: Buffer = Buffer.alloc(0);
      let text = '';
      res.on('data', (chunk: Buffer) => {
        const buf = carry.length > 0 ? Buffer.concat([carry, chunk]) : chunk;
        let at = buf.indexOf(NEEDLE);
        while (at >= 0) {
          viewer.events++;
          at = buf.indexOf(NEEDLE, at + NEEDLE.length);
        }
        carry = buf.subarray(Math.max(0, buf.length - NEEDLE.length + 1));
        if (buf.includes('event: skipped')) viewer.skippedMarkers++;
        if (viewer.lags !== undefined) {
          const now = Date.now();
          text += chunk.toString();
          let end = text.indexOf('\n\n');
          while (end >= 0) {
            const data = /^data: (.*)$/m.exec(text.slice(0, end))?.[1];
            text = text.slice(end + 2);
            end = text.indexOf('\n\n');
            if (data === undefined) continue;
            for (const e of (JSON.parse(data) as { events?: { timestamp: string }[] }).events ?? []) {
              viewer.lags.push(now - Date.parse(e.timestamp));
            }
          }
        }
      });
      resolve(viewer);
    });
    viewer.req.on('error', reject);
  });
}

/** The poster, run in a worker thread: RATE commerce events a second as NDJSON, posted every 100 ms. */
const POSTER = `
const { parentPort, workerData } = require('node:worker_threads');
const { randomUUID } = require('node:crypto');
const { base, rate, seconds } = workerData;
let sent = 0;
let chain = Promise.resolve();
function line(i) {
  const common = { event_id: randomUUID(), idempotency_key: randomUUID(), user_id: 'user_' + (i % 5000),
    timestamp: new Date().toISOString(), device_type: 'mobile', ip_address: '10.0.0.1', schema_version: 'v1' };
  return JSON.stringify(i % 5 === 0
    ? { ...common, event_type: 'purchase', payload: { transaction_id: 'TXN-' + i, product_id: 'PROD-1', quantity: 1,
        unit_price: 20, total_amount: 20, currency: 'USD' } }
    : { ...common, event_type: 'page_view', payload: { page_url: 'https://example.com/p', session_id: 's' } });
}
const started = Date.now();
function post(n) {
  const lines = [];
  for (let i = 0; i < n; i++) lines.push(line(sent + i));
  sent += n;
  const body = lines.join('\\n');
  const done = fetch(base + '/events', { method: 'POST', headers: { 'content-type': 'application/x-ndjson' }, body })
    .then(async (res) => { await res.arrayBuffer(); if (res.status >= 300) throw new Error('POST /events: HTTP ' + res.status); });
  chain = Promise.all([chain, done]);
}
// Every 100 ms what is due by then, so a late tick (a busy machine) catches up instead of lowering the rate.
const timer = setInterval(() => {
  const due = Math.min(Math.floor(((Date.now() - started) / 1000) * rate), rate * seconds) - sent;
  if (due > 0) post(due);
}, 100);
setTimeout(async () => {
  clearInterval(timer);
  if (rate * seconds > sent) post(rate * seconds - sent);
  await chain;
  parentPort.postMessage(sent);
}, seconds * 1000);
`;

/**
 * Viewers in a worker thread: raw sockets (no HTTP client parsing every byte), each counting the
 * events it receives by their `"event_id":"` and its `event: skipped` markers. Reading ~200 MB/s of
 * SSE is the bench's own cost; spread over threads it no longer limits what the server shows.
 */
const VIEWERS_THREAD = `
const { parentPort, workerData } = require('node:worker_threads');
const net = require('node:net');
const { port, count } = workerData;
const NEEDLE = Buffer.from('"event_id":"');
const SKIPPED = Buffer.from('event: skipped');
const viewers = [];
function open() {
  return new Promise((resolve, reject) => {
    const v = { events: 0, skipped: 0, ok: false, carry: Buffer.alloc(0), socket: undefined };
    v.socket = net.connect(port, '127.0.0.1', () => {
      v.socket.write('GET /kpi/feed?recent=0 HTTP/1.1\\r\\nHost: 127.0.0.1\\r\\n\\r\\n');
    });
    v.socket.on('data', (chunk) => {
      const buf = v.carry.length > 0 ? Buffer.concat([v.carry, chunk]) : chunk;
      if (!v.ok) {
        if (!buf.subarray(0, 16).toString().startsWith('HTTP/1.1 200')) return reject(new Error('viewer got ' + buf.subarray(0, 40).toString()));
        v.ok = true;
        resolve(v);
      }
      let at = buf.indexOf(NEEDLE);
      while (at >= 0) {
        v.events++;
        at = buf.indexOf(NEEDLE, at + NEEDLE.length);
      }
      if (buf.indexOf(SKIPPED) >= 0) v.skipped++;
      v.carry = buf.subarray(Math.max(0, buf.length - SKIPPED.length + 1));
    });
    v.socket.on('error', (e) => (v.ok ? undefined : reject(e)));
    viewers.push(v);
  });
}
(async () => {
  for (let i = 0; i < count; i += 50) {
    await Promise.all(Array.from({ length: Math.min(50, count - i) }, open));
  }
  parentPort.postMessage({ ready: viewers.length });
})().catch((e) => parentPort.postMessage({ error: String(e) }));
parentPort.on('message', (m) => {
  if (m === 'count') parentPort.postMessage({ counts: viewers.map((v) => v.events), skipped: viewers.map((v) => v.skipped) });
  if (m === 'close') for (const v of viewers) v.socket.destroy();
});
`;

interface ViewerThread {
  worker: Worker;
  counts(): Promise<{ counts: number[]; skipped: number[] }>;
}

async function viewerThread(port: number, count: number): Promise<ViewerThread> {
  const worker = new Worker(VIEWERS_THREAD, { eval: true, workerData: { port, count } });
  await new Promise<void>((resolve, reject) => {
    worker.once('message', (m: { ready?: number; error?: string }) =>
      m.error !== undefined ? reject(new Error(m.error)) : resolve(),
    );
    worker.once('error', reject);
  });
  return {
    worker,
    counts: () =>
      new Promise((resolve) => {
        worker.once('message', resolve);
        worker.postMessage('count');
      }),
  };
}

/** Threads the viewers are spread over (RTSA_BENCH_VIEWER_THREADS, default 2). */
const VIEWER_THREADS = Number(process.env.RTSA_BENCH_VIEWER_THREADS ?? 2);

export async function runFeedLoad(opts: BenchOptions): Promise<Record<string, unknown>> {
  const VIEWERS = Number(process.env.RTSA_BENCH_VIEWERS ?? 1000);
  const RATE = Number(process.env.RTSA_BENCH_FEED_RATE ?? 1000);
  const seconds = Math.max(10, opts.seconds);
  const env = await scratch();
  try {
    const pool = new pg.Pool({ connectionString: env.pgUrl, max: 1 });
    await migrate(pool);
    await pool.end();
    return await withServe(
      env,
      ['--feed-max-viewers', String(VIEWERS + 10), '--feed-max-viewers-per-address', String(VIEWERS + 10)],
      async (base, pid) => {
        const rssIdle = rssMiB(pid);
        const agent = new http.Agent({ keepAlive: false, maxSockets: Number.POSITIVE_INFINITY });
        // 10 viewers here sample the lag (they parse every frame); the others count in threads.
        const sampled = Math.min(10, VIEWERS);
        const viewers: FeedViewer[] = await Promise.all(
          Array.from({ length: sampled }, () => openViewer(base, agent, true)),
        );
        const port = Number(new URL(base).port);
        const threads: ViewerThread[] = [];
        const rest = VIEWERS - sampled;
        for (let t = 0; t < VIEWER_THREADS && rest > 0; t++) {
          const count = Math.floor(rest / VIEWER_THREADS) + (t < rest % VIEWER_THREADS ? 1 : 0);
          threads.push(await viewerThread(port, count));
        }
        const rssViewers = rssMiB(pid);
        console.log(`${VIEWERS} viewers connected; server RSS ${rssIdle} -> ${rssViewers} MiB`);
        // RATE events a second, posted every 100 ms by a worker thread: the viewers keep this
        // thread's event loop busy, which would slow the posting down.
        let rssMax = rssViewers;
        const startedAt = performance.now();
        const poster = new Worker(POSTER, { eval: true, workerData: { base, rate: RATE, seconds } });
        const sampler = setInterval(() => {
          rssMax = Math.max(rssMax, rssMiB(pid));
        }, 1000);
        const sent = await new Promise<number>((resolve, reject) => {
          poster.once('message', (n: number) => resolve(n));
          poster.once('error', reject);
        });
        await poster.terminate();
        const postedFor = (performance.now() - startedAt) / 1000;
        // Let the last frames arrive: until every viewer's count stops moving.
        const everyCount = async () => {
          const parts = await Promise.all(threads.map((t) => t.counts()));
          return {
            counts: [...viewers.map((v) => v.events), ...parts.flatMap((p) => p.counts)],
            skipped: [...viewers.map((v) => v.skippedMarkers), ...parts.flatMap((p) => p.skipped)],
          };
        };
        let last = -1;
        let final = await everyCount();
        for (let i = 0; i < 50; i++) {
          const total = final.counts.reduce((t, n) => t + n, 0);
          if (total === last) break;
          last = total;
          await new Promise((r) => setTimeout(r, 500));
          final = await everyCount();
        }
        clearInterval(sampler);
        for (const v of viewers) v.req.destroy();
        agent.destroy();
        for (const t of threads) t.worker.postMessage('close');
        await Promise.all(threads.map((t) => t.worker.terminate()));
        const counts = final.counts.sort((a, b) => a - b);
        const lags = viewers.flatMap((v) => v.lags ?? []).sort((a, b) => a - b);
        const delivered = counts.reduce((t, n) => t + n, 0);
        const result = {
          viewers: VIEWERS,
          events_sent: sent,
          events_per_second_sent: Math.round(sent / postedFor),
          delivered_fraction: Math.round((delivered / (sent * VIEWERS)) * 10_000) / 10_000,
          events_per_viewer_min: counts[0],
          events_per_viewer_median: counts[Math.floor(counts.length / 2)],
          deliveries_per_second: Math.round(delivered / postedFor),
          viewers_with_skips: final.skipped.filter((n) => n > 0).length,
          lag_p50_ms: percentile(lags, 50),
          lag_p99_ms: percentile(lags, 99),
          lag_max_ms: lags.at(-1),
          server_rss_idle_mib: rssIdle,
          server_rss_with_viewers_mib: rssViewers,
          server_rss_max_mib: rssMax,
        };
        console.log(JSON.stringify(result));
        return {
          ...result,
          setup:
            `rtsa serve (1 process, embedded log and Postgres); ${VIEWERS} SSE viewers in this process (10 sampling lag ` +
            `on the main thread, the rest on ${VIEWER_THREADS} worker threads counting events on raw sockets) and the poster ` +
            `on another thread; ${RATE} events/s posted as NDJSON every 100 ms for ${seconds} s; ` +
            'lag = arrival - event timestamp on 10 viewers; same 2-core machine, shared with other work',
        };
      },
    );
  } finally {
    await env.close();
  }
}

/**
 * API under load: 1,000 streams × 24 h of minute windows (1.44M rows) in Postgres, `rtsa serve`
 * in a child process, autocannon (this process) on loopback against the hot endpoints.
 */
import autocannon from 'autocannon';
import pg from 'pg';
import { migrate } from '../src/db/index.ts';
import { freePort, waitFor } from './child.ts';
import type { BenchOptions } from './options.ts';
import { scratch } from './harness.ts';
import { spawn } from 'node:child_process';

const ENDPOINTS = [
  '/metrics/latest',
  '/metrics/latest?stream_id=stream_1500',
  '/streams/top?minutes=10&by=donations_usd&n=5',
  '/metrics?minutes=10&limit=100',
  '/prometheus',
];

export async function runApiLoad(opts: BenchOptions): Promise<Record<string, unknown>> {
  const env = await scratch();
  const pool = new pg.Pool({ connectionString: env.pgUrl, max: 2 });
  try {
    await migrate(pool);
    const started = performance.now();
    await pool.query(`
      INSERT INTO stream_metrics_minute (window_start, stream_id, window_end, active_viewers, chat_messages,
        donations_usd, donation_count, viewer_joins, viewer_leaves, events, is_final)
      SELECT m, 'stream_' || s, m + interval '1 minute', (s * 7 + extract(minute from m)::int) % 500,
             (s + extract(minute from m)::int) % 40, ((s * 13) % 100)::numeric / 4, (s % 5), s % 9, s % 7, 60, true
      FROM generate_series(date_trunc('minute', now()) - interval '1439 minutes', date_trunc('minute', now()), interval '1 minute') AS m,
           generate_series(1001, 2000) AS s`);
    await pool.query(
      `INSERT INTO stream_state SELECT 'stream_' || s, s % 500, now(), now() FROM generate_series(1001, 2000) s`,
    );
    await pool.query('VACUUM ANALYZE');
    console.log(`seeded 1,440,000 windows in ${((performance.now() - started) / 1000).toFixed(1)} s`);
    const port = await freePort();
    const child = spawn(
      process.execPath,
      [
        'src/cli/main.ts',
        'serve',
        '--database-url',
        env.pgUrl,
        '--data-dir',
        env.dir,
        '--port',
        String(port),
        '--log-level',
        'warn',
        '--log-format',
        'json',
      ],
      { stdio: ['ignore', 'ignore', 'inherit'] },
    );
    const base = `http://127.0.0.1:${port}`;
    try {
      await waitFor('API', async () => ((await fetch(`${base}/health`)).ok ? true : undefined), 30_000);
      const results: Record<string, unknown>[] = [];
      for (const path of ENDPOINTS) {
        const r = await autocannon({
          url: `${base}${path}`,
          connections: 64,
          duration: Math.max(5, Math.round(opts.seconds / 3)),
          headers: { 'accept-encoding': 'gzip' },
        });
        const row = {
          path,
          requests_per_second: Math.round(r.requests.average),
          p50_ms: r.latency.p50,
          p99_ms: r.latency.p99,
          errors: r.errors + r.non2xx,
        };
        console.log(JSON.stringify(row));
        results.push(row);
      }
      return {
        endpoints: results,
        setup:
          '1,000 streams x 24 h of windows (1.44M rows); rtsa serve (1 process, 250 ms response cache); autocannon 64 connections, gzip accepted, same 2-core machine',
      };
    } finally {
      child.kill('SIGINT');
      await new Promise((r) => child.once('exit', r));
    }
  } finally {
    await pool.end();
    await env.close();
  }
}

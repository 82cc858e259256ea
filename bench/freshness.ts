/**
 * Freshness: `rtsa start` generating `rate` events/s (1,000 streams, 100,000 users); every
 * 100 ms a probe donation for its own stream is POSTed to /events, and /metrics/latest is polled
 * for it. Latency = from the 202 (the event is durable in the log) to the row being visible.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { BenchOptions } from './options.ts';
import { freePort, probeFreshness, startRtsa, stopRtsa, waitFor } from './child.ts';
import { endProgress, percentile, progress } from './harness.ts';

export async function runFreshness(opts: BenchOptions): Promise<Record<string, unknown>> {
  const dir = await mkdtemp(path.join(tmpdir(), 'rtsa-bench-fresh-'));
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const child = startRtsa([
    '--data-dir',
    dir,
    '--port',
    String(port),
    '--rate',
    String(opts.rate),
    '--streams',
    '1000',
    '--users',
    '100000',
  ]);
  try {
    await waitFor('API', async () => ((await fetch(`${base}/health`)).ok ? true : undefined), 60_000);
    // Let the generator reach its rate before measuring.
    await new Promise((r) => setTimeout(r, 3_000));
    const { fromAccepted: latencies } = await probeFreshness(base, opts.seconds, (n) =>
      progress(`probes: ${n} seen`),
    );
    endProgress();
    const events = await (await fetch(`${base}/prometheus`)).text();
    const counted = [...events.matchAll(/^rtsa_processor_events_total\{[^}]*\} (\d+)/gm)].reduce(
      (s, m) => s + Number(m[1]),
      0,
    );
    return {
      rate: opts.rate,
      probes: latencies.length,
      p50_seconds: Number(percentile(latencies, 50).toFixed(3)),
      p99_seconds: Number(percentile(latencies, 99).toFixed(3)),
      max_seconds: Number(latencies[latencies.length - 1]!.toFixed(3)),
      events_counted: counted,
      setup: `rtsa start --rate ${opts.rate} --streams 1000 --users 100000 (defaults: flush 500 ms, fsync always); probe every 100 ms for ${opts.seconds} s`,
    };
  } finally {
    await stopRtsa(child);
    await rm(dir, { recursive: true, force: true });
  }
}

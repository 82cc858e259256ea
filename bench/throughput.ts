/**
 * Throughput: N generated events pre-filled into the embedded log, then one processor (the
 * `rtsa process` code path, default settings: flush 500 ms, exactly-once commits) from an empty
 * database to every record committed. events/s = N / that time. `--threads T` runs it as T
 * processor threads over `--partitions P` partitions (default one per thread).
 */
import path from 'node:path';
import { Registry } from 'prom-client';
import { EmbeddedBus } from '../src/bus/embedded/index.ts';
import { loadConfig } from '../src/config/index.ts';
import { startProcessorRole } from '../src/runtime/processor-role.ts';
import { createPool, migrate } from '../src/db/index.ts';
import { silentLogger } from '../src/telemetry/logger.ts';
import type { BenchOptions } from './options.ts';
import { benchGenerator, endProgress, progress, scratch, startProfile } from './harness.ts';
import { cpuSeconds, cpuUsed } from './kafka-harness.ts';

export async function runThroughput(opts: BenchOptions): Promise<Record<string, unknown>> {
  const env = await scratch();
  const bus = new EmbeddedBus({
    dir: path.join(env.dir, 'log'),
    fsync: 'never',
    retentionMs: 86_400_000,
    segmentBytes: 64 << 20,
  });
  const pool = createPool(env.pgUrl, 10);
  try {
    await migrate(pool);
    const threads = opts.threads;
    const partitions = opts.partitions;
    const { config } = loadConfig('process', ['--processor-threads', String(threads)], {});
    await bus.ensureTopic(config.topic, partitions);
    const sink = bus.sink();
    // Event time moves 50 µs per event: the traffic of 20,000 events/s.
    const gen = benchGenerator(Date.now() - 3_600_000, 0.05);
    const fillStart = performance.now();
    let bytes = 0;
    for (let sent = 0; sent < opts.events; ) {
      const batch = [];
      for (let i = 0; i < 10_000 && sent < opts.events; i++, sent++) {
        const e = gen.next();
        bytes += e.value.length;
        batch.push({ key: e.key, value: e.value });
      }
      await sink.send(config.topic, batch);
      progress(`pre-filling the log: ${sent.toLocaleString()} events`);
    }
    endProgress();
    const fillSeconds = (performance.now() - fillStart) / 1000;
    console.log(
      `pre-filled ${opts.events.toLocaleString()} events (${(bytes / 2 ** 20).toFixed(0)} MiB) in ${fillSeconds.toFixed(1)} s`,
    );

    const registry = new Registry();
    const profiler = process.env.RTSA_BENCH_PROFILE ? await startProfile() : undefined;
    const cpuBefore = cpuSeconds();
    const started = performance.now();
    const role = await startProcessorRole({
      config,
      bus,
      pool,
      databaseUrl: env.pgUrl,
      registry,
      logger: silentLogger(),
    });
    for (;;) {
      const { rows } = await pool.query<{ o: number }>(
        'SELECT coalesce(sum(committed_offset), 0)::bigint AS o FROM processor_partitions',
      );
      const done = rows[0]!.o;
      const s = (performance.now() - started) / 1000;
      progress(
        `processed and committed: ${done.toLocaleString()} events, ${Math.round(done / s).toLocaleString()} events/s`,
      );
      if (done >= opts.events) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    const seconds = (performance.now() - started) / 1000;
    const cpu = cpuUsed(cpuBefore, cpuSeconds(), seconds);
    endProgress();
    if (profiler) await profiler.stop(process.env.RTSA_BENCH_PROFILE!);
    await role.stop();
    const windows = await pool.query<{ n: number }>('SELECT count(*)::int AS n FROM stream_metrics_minute');
    const commits = await registry.getSingleMetric('rtsa_processor_commits_total')?.get();
    return {
      events: opts.events,
      seconds: Number(seconds.toFixed(2)),
      events_per_second: Math.round(opts.events / seconds),
      windows: windows.rows[0]!.n,
      commits: commits?.values[0]?.value,
      cpu,
      threads,
      partitions,
      setup: `${partitions} partition(s), ${threads} processor thread(s), 1,000 streams, 100,000 users, default flush 500 ms, max batch 50,000`,
    };
  } finally {
    await bus.close();
    await pool.end();
    await env.close();
  }
}

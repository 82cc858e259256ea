/**
 * Freshness on Kafka: `rtsa start --kafka-brokers …` generating `rate` events/s (1,000 streams,
 * 100,000 users) through the broker; every 100 ms a probe donation for its own stream is POSTed to
 * /events (the API writes it to Kafka and answers 202 once the broker acknowledged it), and
 * /metrics/latest is polled for it. Latency = from the 202 to the row being visible (and, second
 * figure, from before the POST).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { freePort, probeFreshness, startRtsa, stopRtsa, waitFor } from './child.ts';
import { endProgress, percentile, progress } from './harness.ts';
import { cpuSeconds, cpuUsed, deleteTopic, kafkaBrokers, uniqueName } from './kafka-harness.ts';
import type { BenchOptions } from './options.ts';

export async function runKafkaFreshness(opts: BenchOptions): Promise<Record<string, unknown>> {
  const brokers = kafkaBrokers();
  const dir = await mkdtemp(path.join(tmpdir(), 'rtsa-bench-kafka-fresh-'));
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const topic = uniqueName('bench-fresh');
  const child = startRtsa([
    '--data-dir',
    dir,
    '--port',
    String(port),
    '--kafka-brokers',
    brokers.join(','),
    '--topic',
    topic,
    '--consumer-group',
    uniqueName('bench-fresh-group'),
    '--rate',
    String(opts.rate),
    '--streams',
    '1000',
    '--users',
    '100000',
  ]);
  try {
    await waitFor('API', async () => ((await fetch(`${base}/health`)).ok ? true : undefined), 90_000);
    // Let the generator reach its rate before measuring.
    await new Promise((r) => setTimeout(r, 3_000));
    const cpuBefore = cpuSeconds();
    const measureStart = performance.now();
    const { fromAccepted, fromPost } = await probeFreshness(base, opts.seconds, (n) =>
      progress(`probes: ${n} seen`),
    );
    const cpu = cpuUsed(cpuBefore, cpuSeconds(), (performance.now() - measureStart) / 1000);
    endProgress();
    const text = await (await fetch(`${base}/prometheus`)).text();
    const sum = (re: RegExp) => [...text.matchAll(re)].reduce((s, m) => s + Number(m[1]), 0);
    const round = (x: number) => Number(x.toFixed(3));
    return {
      rate: opts.rate,
      probes: fromAccepted.length,
      p50_seconds: round(percentile(fromAccepted, 50)),
      p99_seconds: round(percentile(fromAccepted, 99)),
      max_seconds: round(fromAccepted[fromAccepted.length - 1]!),
      p50_from_post_seconds: round(percentile(fromPost, 50)),
      p99_from_post_seconds: round(percentile(fromPost, 99)),
      events_counted: sum(/^rtsa_processor_events_total\{[^}]*\} (\d+)/gm),
      generated: sum(/^rtsa_generator_events_total\{[^}]*\} (\d+)/gm),
      cpu,
      setup: `rtsa start --kafka-brokers … --rate ${opts.rate} --streams 1000 --users 100000 (6 partitions, defaults: flush 500 ms, session 30 s), embedded Postgres; probe every 100 ms for ${opts.seconds} s`,
    };
  } finally {
    await stopRtsa(child);
    await rm(dir, { recursive: true, force: true });
    await deleteTopic(brokers, topic);
  }
}

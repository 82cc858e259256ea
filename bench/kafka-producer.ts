/**
 * Producer throughput of the generator to Kafka: `rtsa generate --kafka-brokers …` (1,000 streams,
 * 100,000 users; idempotent producer, acks=all) in a child process at increasing target rates, each
 * run to its own 6-partition topic for ~`seconds` (at most 2M events). The achieved rate is the
 * generator's own figure (events acknowledged by the broker / time since its first event); the
 * records in the topic are counted to check that every event arrived.
 */
import { spawn } from 'node:child_process';
import { KafkaBus } from '../src/bus/kafka/index.ts';
import {
  cpuSeconds,
  cpuUsed,
  deleteTopic,
  kafkaBrokers,
  PARTITIONS,
  trackChildCpu,
  uniqueName,
} from './kafka-harness.ts';
import type { BenchOptions } from './options.ts';

const RATES = [20_000, 100_000, 250_000, 1_000_000];

export async function runKafkaProducer(opts: BenchOptions): Promise<Record<string, unknown>> {
  const brokers = kafkaBrokers();
  const runs: Record<string, unknown>[] = [];
  for (const rate of RATES) {
    const count = Math.min(2_000_000, Math.round(rate * Math.min(opts.seconds, 10)));
    const topic = uniqueName('bench-producer');
    try {
      const cpuBefore = cpuSeconds();
      const started = performance.now();
      const { stats: finished, cpuSeconds: generatorCpu } = await generate([
        '--kafka-brokers',
        brokers.join(','),
        '--topic',
        topic,
        '--partitions',
        String(PARTITIONS),
        '--count',
        String(count),
        '--rate',
        String(rate),
        '--streams',
        '1000',
        '--users',
        '100000',
        '--seed',
        '1',
      ]);
      const wall = (performance.now() - started) / 1000;
      const cpu = {
        ...cpuUsed(cpuBefore, cpuSeconds(), wall),
        'rtsa generate': `${generatorCpu.toFixed(1)} s (${((100 * generatorCpu) / wall).toFixed(0)}% of a core, startup included)`,
      };
      const inTopic = await countRecords(brokers, topic);
      const result = {
        target_rate: rate,
        events: finished.sent,
        in_topic: inTopic,
        seconds: Number((finished.elapsedMs / 1000).toFixed(2)),
        events_per_second: Math.round(finished.ratePerSec),
        kept_up: finished.ratePerSec >= rate * 0.95,
        retries: finished.retries,
        cpu,
      };
      console.log(JSON.stringify(result));
      runs.push(result);
    } finally {
      await deleteTopic(brokers, topic);
    }
  }
  return {
    runs,
    setup:
      'rtsa generate --kafka-brokers … --count N --rate R --streams 1000 --users 100000 (a batch every 50 ms, each awaited: backpressure), 6 partitions, idempotent producer acks=all',
  };
}

interface GeneratorStats {
  sent: number;
  retries: number;
  elapsedMs: number;
  ratePerSec: number;
}

/** Runs `rtsa generate` to the end; returns its "generator finished" statistics. */
function generate(args: string[]): Promise<{ stats: GeneratorStats; cpuSeconds: number }> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      ['src/cli/main.ts', 'generate', '--log-format', 'json', '--log-level', 'info', ...args],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    const cpu = trackChildCpu(child.pid!);
    let out = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString('utf8');
    });
    child.on('error', reject);
    child.on('exit', (code) => {
      cpu.stop();
      const line = out
        .split('\n')
        .filter((l) => l.includes('"generator finished"'))
        .map((l) => JSON.parse(l) as GeneratorStats)[0];
      if (code !== 0 || !line) reject(new Error(`rtsa generate exited with ${code}:\n${out.slice(-2000)}`));
      else resolve({ stats: line, cpuSeconds: cpu.seconds() });
    });
  });
}

async function countRecords(brokers: string[], topic: string): Promise<number> {
  const bus = new KafkaBus({ brokers, clientId: 'rtsa-bench-count' });
  try {
    const ends = await bus.source({ topic, group: uniqueName('count') }).endOffsets();
    return [...ends.values()].reduce((a, b) => a + b, 0);
  } finally {
    await bus.close();
  }
}

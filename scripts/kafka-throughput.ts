/**
 * Producer and consumer throughput of the Kafka bus (KafkaBus: idempotent producer, acks=all;
 * consumer-group source with a no-op handler) against a real broker:
 *   KAFKA_BROKERS=127.0.0.1:19092 node scripts/kafka-throughput.ts [--messages 200000] [--batch 1000]
 *     [--senders 4] [--partitions 6] [--bytes 150] [--runs 3]
 * Each run uses a new topic (deleted afterwards). Prints one JSON line per run and a summary line
 * with the medians, for docs/decisions (Kafka) and comparisons with other clients.
 */
import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import { Admin } from '@platformatic/kafka';
import { KafkaBus } from '../src/bus/kafka/index.ts';
import type { BusRecord, OutgoingMessage } from '../src/bus/types.ts';

const { values } = parseArgs({
  options: {
    messages: { type: 'string', default: '200000' },
    batch: { type: 'string', default: '1000' },
    senders: { type: 'string', default: '4' },
    partitions: { type: 'string', default: '6' },
    bytes: { type: 'string', default: '150' },
    runs: { type: 'string', default: '3' },
  },
  strict: true,
});
const positive = (name: keyof typeof values): number => {
  const n = Number(values[name]);
  if (!Number.isInteger(n) || n < 1)
    throw new Error(`--${name} must be a positive integer, got ${values[name]}`);
  return n;
};
const total = positive('messages');
const batch = positive('batch');
const senders = positive('senders');
const partitions = positive('partitions');
const bytes = positive('bytes');
const runs = positive('runs');
const brokers = process.env.KAFKA_BROKERS?.split(',').map((b) => b.trim());
if (!brokers?.length) {
  console.error('KAFKA_BROKERS is not set: start a broker with `npm run kafka:local -- start` and export it');
  process.exit(2);
}

/** A live-stream event of about `bytes` bytes, like the generator's. */
function message(i: number): OutgoingMessage {
  const streamId = `stream-${i % 20}`;
  const head = `{"event_id":"${randomBytes(4).toString('hex')}-${i}","ts":"2026-03-01T12:00:00.000Z","event_type":"chat_message","stream_id":"${streamId}","user_id":"user-${i % 1000}","message_len":`;
  const pad = Math.max(1, bytes - head.length - 1);
  return { key: streamId, value: Buffer.from(`${head}${'1'.repeat(pad)}}`) };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

const messages = Array.from({ length: total }, (_, i) => message(i));
const payloadBytes = messages.reduce((n, m) => n + (m.value as Buffer).length, 0);
const results: { produce: number; consume: number }[] = [];

for (let run = 1; run <= runs; run++) {
  const bus = new KafkaBus({ brokers, clientId: 'rtsa-throughput' });
  const topic = `throughput-${Date.now()}-${run}`;
  await bus.ensureTopic(topic, partitions);
  const sink = bus.sink();
  await sink.send(topic, [messages[0]!]); // connect and get a producer id outside the timing
  let next = 1;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: senders }, async () => {
      while (next < total) {
        const from = next;
        next = Math.min(total, next + batch);
        await sink.send(topic, messages.slice(from, next));
      }
    }),
  );
  const produceS = (performance.now() - t0) / 1000;

  let received = 0;
  let done!: () => void;
  const all = new Promise<void>((resolve) => {
    done = resolve;
  });
  const source = bus.source({ topic, group: `throughput-${run}-${Date.now()}` });
  const t1 = performance.now();
  await source.start({
    assigned: async (ps) => new Map(ps.map((p) => [p, 0])),
    revoked: async () => {},
    records: async (records: readonly BusRecord[]) => {
      received += records.length;
      if (received >= total) done();
    },
  });
  await all;
  const consumeS = (performance.now() - t1) / 1000;
  await source.stop();
  await bus.close();
  const admin = new Admin({ clientId: 'rtsa-throughput', bootstrapBrokers: brokers });
  await admin.deleteTopics({ topics: [topic] });
  await admin.close();

  const result = {
    run,
    messages: total,
    avgValueBytes: Math.round(payloadBytes / total),
    batch,
    senders,
    partitions,
    produceMsgsPerS: Math.round((total - 1) / produceS),
    produceMBPerS: Number((payloadBytes / produceS / 1e6).toFixed(1)),
    consumeMsgsPerS: Math.round(total / consumeS),
    consumeMBPerS: Number((payloadBytes / consumeS / 1e6).toFixed(1)),
  };
  results.push({ produce: result.produceMsgsPerS, consume: result.consumeMsgsPerS });
  console.log(JSON.stringify(result));
}
console.log(
  JSON.stringify({
    summary: 'median',
    client: '@platformatic/kafka via KafkaBus',
    produceMsgsPerS: median(results.map((r) => r.produce)),
    consumeMsgsPerS: median(results.map((r) => r.consume)),
  }),
);

/**
 * Memory per 1M dedup keys: one partition ingests 1M chat messages with distinct event_ids, all
 * inside the watermark horizon (so every id is held), across 10 streams; heap measured after GC,
 * minus the heap before. Needs --expose-gc (the npm script passes it).
 */
import { PartitionState } from '../src/realtime/processor/partition-state.ts';
import type { BenchOptions } from './options.ts';

export async function runMemory(_opts: BenchOptions): Promise<Record<string, unknown>> {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) throw new Error('run with node --expose-gc (npm run bench does)');
  const keys = 1_000_000;
  const base = Date.parse('2026-06-01T00:00:00Z');
  const values: Buffer[] = [];
  for (let i = 0; i < keys; i++) {
    const ts = new Date(base + Math.floor((i / keys) * 300_000)).toISOString();
    values.push(
      Buffer.from(
        `{"event_id":"${crypto.randomUUID()}","ts":"${ts}","event_type":"chat_message","stream_id":"stream_${1001 + (i % 10)}","user_id":"user_${i % 1000}"}`,
      ),
    );
  }
  gc();
  const before = process.memoryUsage().heapUsed;
  const state = new PartitionState(
    {
      partition: 0,
      epoch: 1,
      committedOffset: 0,
      replayOffset: 0,
      replayMaxTs: undefined,
      compactedThrough: undefined,
      maxTs: undefined,
      idleMarks: [],
      viewers: new Map(),
    },
    { watermarkDelayMs: 600_000, maxFutureSkewMs: 900_000 },
    0,
  );
  for (let i = 0; i < keys; i++) {
    state.ingest({ partition: 0, offset: i, key: null, value: values[i]!, timestamp: Date.now() }, 0);
    if (i % 50_000 === 0) {
      state.compact();
      state.handedOff(state.takeCommit());
    }
  }
  state.compact();
  state.handedOff(state.takeCommit());
  gc();
  const after = process.memoryUsage().heapUsed; // the inputs are still alive on both sides
  values.length = 0;
  const held = state.dedupKeys();
  return {
    dedup_keys: held,
    heap_bytes: after - before,
    bytes_per_key: Math.round((after - before) / held),
    mib_per_million_keys: Number(((after - before) / held / 1.048576).toFixed(1)),
    setup: 'event_id = 36-char UUID; 10 streams; all 1M ids within the watermark horizon',
  };
}

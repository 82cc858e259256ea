/**
 * The lake writers end to end (npm run bench -- lake --events 1000000): N commerce events of the
 * seed's generator (10,000 users, ten days of history, 1 % bad data) pre-filled into the embedded
 * log, then each layer alone from an empty lake to every record committed, exactly as `rtsa lake`
 * runs it (LakeWriter, commit protocol, local folder): events/s, files, lake bytes per event, peak
 * RSS. Then silver's memory per 100,000 open sessions.
 *
 * With an S3 server named in the environment (`export $(npm run -s s3:local -- start)`, which sets
 * RTSA_S3_ENDPOINT and its keys), each layer runs a second time into a fresh bucket of that server,
 * from an empty ledger again: the S3 figures beside the local ones.
 */
import { randomBytes } from 'node:crypto';
import { readdir, stat } from 'node:fs/promises';
import { CreateBucketCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import path from 'node:path';
import { EmbeddedBus } from '../src/bus/embedded/index.ts';
import type { Bus } from '../src/bus/types.ts';
import { createPool, migrate } from '../src/db/index.ts';
import { createCommerceHistory } from '../src/generator/commerce/index.ts';
import { bronzeLayer } from '../src/lakehouse/bronze/bronze-layer.ts';
import { type LakeStore, LocalLakeStore, S3LakeStore } from '../src/lakehouse/lake-store/index.ts';
import { LakeCommitLog, type WriterClaim } from '../src/lakehouse/lake-writer/commit-log.ts';
import { type Layer, LakeWriter } from '../src/lakehouse/lake-writer/lake-writer.ts';
import { silverLayer } from '../src/lakehouse/silver/silver-layer.ts';
import { silentLogger } from '../src/telemetry/logger.ts';
import { endProgress, progress, scratch } from './harness.ts';
import type { BenchOptions } from './options.ts';

export const TOPIC = 'events_raw';
const DAY_MS = 86_400_000;

async function folderBytes(dir: string): Promise<{ files: number; bytes: number }> {
  let files = 0;
  let bytes = 0;
  for (const e of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (!e.isFile()) continue;
    files++;
    bytes += (await stat(path.join(e.parentPath, e.name))).size;
  }
  return { files, bytes };
}

/** Where a run writes: a store for a layer, and what the layer left there. */
interface BenchStore {
  name: 'local' | 's3';
  open(layer: string): LakeStore;
  size(layer: string): Promise<{ files: number; bytes: number }>;
}

function localStore(dir: string): BenchStore {
  return {
    name: 'local',
    open: (layer) => new LocalLakeStore(path.join(dir, `lake-${layer}`)),
    size: (layer) => folderBytes(path.join(dir, `lake-${layer}`)),
  };
}

/** A fresh bucket on the S3 server of RTSA_S3_ENDPOINT, or undefined when none is set. */
async function s3Store(): Promise<BenchStore | undefined> {
  const endpoint = process.env.RTSA_S3_ENDPOINT;
  const accessKeyId = process.env.RTSA_S3_ACCESS_KEY_ID;
  const secretAccessKey = process.env.RTSA_S3_SECRET_ACCESS_KEY;
  if (endpoint === undefined) {
    console.log('no RTSA_S3_ENDPOINT: local folder only (export $(npm run -s s3:local -- start) adds S3)');
    return undefined;
  }
  const credentials =
    accessKeyId !== undefined && secretAccessKey !== undefined ? { accessKeyId, secretAccessKey } : undefined;
  const client = new S3Client({
    endpoint,
    region: 'us-east-1',
    forcePathStyle: true,
    ...(credentials ? { credentials } : {}),
  });
  const bucket = `rtsa-bench-${randomBytes(4).toString('hex')}`;
  await client.send(new CreateBucketCommand({ Bucket: bucket }));
  console.log(`S3: bucket ${bucket} on ${endpoint}`);
  return {
    name: 's3',
    open: (layer) => new S3LakeStore({ bucket, prefix: layer, endpoint, ...credentials }),
    size: async (layer) => {
      let files = 0;
      let bytes = 0;
      let token: string | undefined;
      do {
        const page = await client.send(
          new ListObjectsV2Command({ Bucket: bucket, Prefix: `${layer}/`, ContinuationToken: token }),
        );
        for (const o of page.Contents ?? []) {
          files++;
          bytes += o.Size ?? 0;
        }
        token = page.NextContinuationToken;
      } while (token !== undefined);
      return { files, bytes };
    },
  };
}

/** Pre-fills TOPIC of `bus` with `events` commerce events of the seed's generator over [from, to]. */
export async function prefillCommerce(
  bus: Pick<Bus, 'sink'>,
  events: number,
  from: string,
  to: string,
  topic = TOPIC,
): Promise<number> {
  const sink = bus.sink();
  const days = Math.round((Date.parse(to) - Date.parse(from)) / DAY_MS) + 1;
  const gen = createCommerceHistory({
    seed: 1,
    users: 10_000,
    from,
    to,
    eventsPerDay: Math.ceil(events / days),
    badDataPercentage: 1,
  });
  let sent = 0;
  let logBytes = 0;
  while (sent < events) {
    const batch = gen.take(Math.min(10_000, events - sent));
    if (batch.length === 0) break;
    for (const m of batch) logBytes += m.value.length;
    await sink.send(
      topic,
      batch.map((m) => ({ key: m.key, value: m.value })),
    );
    sent += batch.length;
    progress(`pre-filling the log: ${sent.toLocaleString('en')} commerce events`);
  }
  endProgress();
  console.log(
    `pre-filled ${sent.toLocaleString('en')} events (${(logBytes / 2 ** 20).toFixed(0)} MiB of JSON)`,
  );
  return sent;
}

export async function runLake(opts: BenchOptions): Promise<Record<string, unknown>> {
  // Silver's memory per 100,000 open sessions, first, before anything else is allocated: one
  // event each for 100,000 users, none closed, heap after GC minus before (the part keeps them).
  const layer = silverLayer({
    topic: TOPIC,
    allowedLatenessMs: 10 * 60_000,
    sessionGapMs: 30 * 60_000,
    idleTimeoutMs: 60_000,
  });
  const claim: WriterClaim = {
    partition: 0,
    epoch: 1,
    committedOffset: 0,
    replayOffset: 0,
    state: null,
    unpublished: [],
  };
  const part = layer.open(claim);
  const live = createCommerceHistory({
    seed: 2,
    users: 10_000,
    from: '2026-11-01',
    to: '2026-11-01',
    eventsPerDay: 100_000,
    badDataPercentage: 0,
  });
  const messages = live.take(100_000);
  globalThis.gc?.();
  const before = process.memoryUsage().heapUsed;
  let offset = 0;
  for (const m of messages) {
    // Each event its own user: 100,000 open sessions.
    const value = Buffer.from(m.value.toString().replace(/"user_id":"[^"]+"/, `"user_id":"u-${offset}"`));
    part.ingest({ partition: 0, offset, key: m.key, value, timestamp: Date.now() }, Date.now());
    offset++;
  }
  globalThis.gc?.();
  const after = process.memoryUsage().heapUsed;
  const perSession = (after - before) / offset;
  const silverMemory = Number(((perSession * 100_000) / 2 ** 20).toFixed(1));
  console.log(JSON.stringify({ silver_memory_per_100k_open_sessions_mib: silverMemory }));
  // Both must stay alive through the second GC: the input is not what is measured.
  if (messages.length === 0 || part.pending === undefined) throw new Error('unreachable');
  const events = Math.min(opts.events, 5_000_000);
  const env = await scratch();
  const bus = new EmbeddedBus({
    dir: path.join(env.dir, 'log'),
    fsync: 'never',
    retentionMs: 365 * DAY_MS,
    segmentBytes: 64 << 20,
  });
  const pool = createPool(env.pgUrl, 4);
  try {
    await migrate(pool);
    await bus.ensureTopic(TOPIC, 1);
    const days = 10;
    const sent = await prefillCommerce(bus, events, '2026-11-01', `2026-11-${String(days).padStart(2, '0')}`);

    const results: Record<string, unknown>[] = [];
    const layers: Layer[] = [
      bronzeLayer(TOPIC),
      // The history ends days ago: the last sessions close once the partition has been idle 1 s.
      silverLayer({
        topic: TOPIC,
        allowedLatenessMs: 10 * 60_000,
        sessionGapMs: 30 * 60_000,
        idleTimeoutMs: 1_000,
      }),
    ];
    const s3 = await s3Store();
    const stores = [localStore(env.dir), ...(s3 ? [s3] : [])];
    for (const layer of layers)
      for (const store of stores) {
        // Each run from an empty ledger: the writer starts at offset 0 again.
        await pool.query('DELETE FROM lake.files WHERE writer = $1', [layer.name]);
        await pool.query('DELETE FROM lake.writer_partitions WHERE writer = $1', [layer.name]);
        const log = new LakeCommitLog(pool, layer.name, TOPIC);
        const writer = new LakeWriter({
          layer,
          store: store.open(layer.name),
          log,
          owner: 'bench',
          flushIntervalMs: 10_000,
          maxBatchRecords: 200_000,
          logger: silentLogger(),
        });
        let peakRss = process.memoryUsage().rss;
        const source = bus.source({
          topic: TOPIC,
          group: `bench-${layer.name}`,
          maxBatch: 10_000,
          idleIntervalMs: 200,
        });
        const started = performance.now();
        await source.start(writer);
        for (;;) {
          peakRss = Math.max(peakRss, process.memoryUsage().rss);
          const { rows } = await pool.query<{ o: number }>(
            'SELECT coalesce(sum(committed_offset), 0)::bigint AS o FROM lake.writer_partitions WHERE writer = $1',
            [layer.name],
          );
          const done = Number(rows[0]?.o ?? 0);
          progress(
            `${layer.name} (${store.name}): ${done.toLocaleString('en')} of ${sent.toLocaleString('en')} committed`,
          );
          if (done >= sent) break;
          await new Promise((r) => setTimeout(r, 50));
        }
        const seconds = (performance.now() - started) / 1000;
        endProgress();
        await source.stop();
        await writer.close();
        const { files, bytes } = await store.size(layer.name);
        const row = {
          layer: layer.name,
          store: store.name,
          events: sent,
          seconds: Number(seconds.toFixed(2)),
          events_per_second: Math.round(sent / seconds),
          files,
          lake_bytes_per_event: Number((bytes / sent).toFixed(1)),
          peak_rss_mib: Math.round(peakRss / 2 ** 20),
        };
        console.log(JSON.stringify(row));
        results.push(row);
      }

    return {
      layers: results,
      silver_memory_per_100k_open_sessions_mib: silverMemory,
      setup: `${sent.toLocaleString('en')} commerce events (seed generator, 10,000 users, ${days} days, 1 % bad) pre-filled in one partition of the embedded log; each layer alone through LakeWriter into a local folder${s3 ? ' and then an S3 bucket (s3proxy on loopback)' : ''}, flush 10 s, max batch 200,000, exactly-once commits to the embedded Postgres`,
    };
  } finally {
    await pool.end();
    await bus.close();
    await env.close();
  }
}

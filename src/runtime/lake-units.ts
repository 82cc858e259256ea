/**
 * The lake writers as units: one LakeWriter per layer (bronze, silver) on its consumer group of the
 * commerce topic, optionally a `member` of several splitting its partitions. The lake role runs all
 * of them on its main thread, or one per lake thread (lake-threads.ts).
 */
import type { Logger } from 'pino';
import type pg from 'pg';
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { Bus, Source, SourceOptions } from '../bus/types.ts';
import type { Config } from '../config/index.ts';
import { bronzeLayer } from '../lakehouse/bronze/index.ts';
import type { LakeStore } from '../lakehouse/lake-store/lake-store.ts';
import { LakeCommitLog, LakeWriter } from '../lakehouse/lake-writer/index.ts';
import { SILVER_DROP_REASONS, silverLayer } from '../lakehouse/silver/index.ts';

export type LayerName = 'bronze' | 'silver';

export interface LakeUnit {
  layer: LayerName;
  member?: SourceOptions['member'];
}

/** The layers this process runs (RTSA_LAKE_LAYERS). */
/** The consumer group of a lake layer's writers. */
export function lakeGroup(layer: LayerName): string {
  return `rtsa-lake-${layer}`;
}

export function lakeLayerNames(config: Config): LayerName[] {
  return (['bronze', 'silver'] as const).filter(
    (l) => config.lakeLayers === 'all' || config.lakeLayers === l,
  );
}

/** The lake writers' metrics; with lake threads, each thread's are merged (role-threads.ts). */
export function lakeMetrics(registry: Registry) {
  const metrics = {
    records: new Counter({
      name: 'rtsa_lake_records_total',
      help: 'Records committed into the lake, per layer.',
      labelNames: ['layer'],
      registers: [registry],
    }),
    files: new Counter({
      name: 'rtsa_lake_files_total',
      help: 'Files committed into the lake, per layer.',
      labelNames: ['layer'],
      registers: [registry],
    }),
    bytes: new Counter({
      name: 'rtsa_lake_bytes_total',
      help: 'Bytes of the files committed into the lake, per layer.',
      labelNames: ['layer'],
      registers: [registry],
    }),
    commitDuration: new Histogram({
      name: 'rtsa_lake_commit_duration_seconds',
      help: 'Time to encode, stage, commit and publish one lake commit, per layer.',
      labelNames: ['layer'],
      buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [registry],
    }),
    lag: new Gauge({
      name: 'rtsa_lake_consumer_lag',
      help: 'Records on the commerce topic not yet committed into the lake, per layer and partition.',
      labelNames: ['layer', 'partition'],
      registers: [registry],
    }),
    lastCommit: new Gauge({
      name: 'rtsa_lake_last_commit_timestamp_seconds',
      help: 'When a layer last committed files into the lake (Unix seconds).',
      labelNames: ['layer'],
      aggregator: 'max',
      registers: [registry],
    }),
    silverDropped: new Counter({
      name: 'rtsa_lake_silver_dropped_total',
      help: 'Events silver did not keep, by reason: duplicate (same idempotency_key), late (dead letter), invalid (dead letter, future_ts among them).',
      labelNames: ['reason'],
      registers: [registry],
    }),
  };
  // At 0 from the start, so the first drop of a kind is an increase, not a new series.
  for (const reason of SILVER_DROP_REASONS) metrics.silverDropped.inc({ reason }, 0);
  return metrics;
}

export type LakeMetrics = ReturnType<typeof lakeMetrics>;

export interface LakeUnits {
  done: Promise<void>;
  stop(): Promise<void>;
}

/** Starts a LakeWriter per unit on `bus` (the topic must exist), with lag gauges. */
export async function startLakeUnits(deps: {
  config: Config;
  bus: Bus;
  pool: pg.Pool;
  store: LakeStore;
  metrics: LakeMetrics;
  logger: Logger;
  owner: string;
  units: readonly LakeUnit[];
}): Promise<LakeUnits> {
  const { config, bus, pool, store, metrics, logger } = deps;
  const topic = config.commerceTopic;
  const writers: LakeWriter[] = [];
  const sources: Source[] = [];
  const layerOf = (name: LayerName) =>
    name === 'bronze'
      ? bronzeLayer(topic)
      : silverLayer(
          {
            topic,
            allowedLatenessMs: config.lakeLatenessMs,
            sessionGapMs: config.sessionGapMs,
            idleTimeoutMs: config.lakeIdleTimeoutMs,
            maxFutureSkewMs: config.maxFutureSkewMs,
          },
          { dropped: (reason) => metrics.silverDropped.inc({ reason }) },
        );
  try {
    for (const unit of deps.units) {
      const layer = layerOf(unit.layer);
      const writer = new LakeWriter({
        layer,
        store,
        log: new LakeCommitLog(pool, layer.name, topic),
        owner: deps.owner,
        flushIntervalMs: config.lakeFlushIntervalMs,
        maxBatchRecords: config.lakeMaxBatch,
        logger,
        onCommit: (s) => {
          metrics.records.inc({ layer: layer.name }, s.records);
          metrics.files.inc({ layer: layer.name }, s.files);
          metrics.bytes.inc({ layer: layer.name }, s.bytes);
          metrics.commitDuration.observe({ layer: layer.name }, s.seconds);
          metrics.lastCommit.set({ layer: layer.name }, Date.now() / 1000);
        },
      });
      const source = bus.source({
        topic,
        group: lakeGroup(unit.layer),
        maxBatch: 10_000,
        idleIntervalMs: 500,
        ...(unit.member !== undefined ? { member: unit.member } : {}),
      });
      await source.start(writer);
      writers.push(writer);
      sources.push(source);
    }
  } catch (error) {
    for (const s of sources) await s.stop().catch(() => {});
    for (const w of writers) await w.close().catch(() => {});
    throw error;
  }
  // Lag per partition a writer holds; a partition it gave up loses its series.
  const shown = sources.map(() => new Set<number>());
  const lagTimer = setInterval(() => {
    for (const [i, source] of sources.entries()) {
      const writer = writers[i]!;
      const layer = deps.units[i]!.layer;
      source
        .endOffsets()
        .then((ends) => {
          const committed = writer.committedOffsets();
          for (const p of shown[i]!) {
            if (!committed.has(p)) {
              metrics.lag.remove({ layer, partition: String(p) });
              shown[i]!.delete(p);
            }
          }
          for (const [p, end] of ends) {
            const at = committed.get(p);
            if (at === undefined) continue;
            metrics.lag.set({ layer, partition: String(p) }, Math.max(0, end - at));
            shown[i]!.add(p);
          }
        })
        .catch(() => {});
    }
  }, 2_000);
  lagTimer.unref();
  return {
    done: Promise.all(sources.map((s) => s.done)).then(() => {}),
    stop: async () => {
      clearInterval(lagTimer);
      // A commit failing now (Postgres or the store gone) is given up, not retried for ever.
      for (const w of writers) w.stopRetrying();
      for (const s of sources) await s.stop();
      for (const w of writers) await w.close();
    },
  };
}

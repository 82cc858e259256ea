import { hostname } from 'node:os';
import type { Logger } from 'pino';
import type pg from 'pg';
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { Bus, Source } from '../bus/types.ts';
import type { Config } from '../config/index.ts';
import { bronzeLayer } from '../lakehouse/bronze/index.ts';
import { lakeStoreFromConfig } from './lake-store.ts';
import { LakeCommitLog, LakeWriter } from '../lakehouse/lake-writer/index.ts';
import { silverLayer } from '../lakehouse/silver/index.ts';
import { defaultPartitions } from './bus.ts';

export interface LakeRole {
  writers: LakeWriter[];
  /** Where the lake is (a folder or s3://…). */
  location: string;
  /** Rejects if a writer stops on its own (an error it cannot retry). */
  done: Promise<void>;
  stop(): Promise<void>;
}

function lakeMetrics(registry: Registry) {
  return {
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
      registers: [registry],
    }),
    silverDropped: new Counter({
      name: 'rtsa_lake_silver_dropped_total',
      help: 'Events silver did not keep, by reason: duplicate (same idempotency_key), late (dead letter), invalid (dead letter).',
      labelNames: ['reason'],
      registers: [registry],
    }),
  };
}

/**
 * The lake writers (bronze, silver), each a consumer group on the commerce topic, writing to the
 * lake store of RTSA_LAKE_URL (default `<data-dir>/lake`). Creates the topic when missing.
 */
export async function startLakeRole(deps: {
  config: Config;
  bus: Bus;
  pool: pg.Pool;
  registry: Registry;
  logger: Logger;
}): Promise<LakeRole> {
  const { config, bus, pool } = deps;
  const logger = deps.logger.child({ role: 'lake' });
  const topic = config.commerceTopic;
  await bus.ensureTopic(topic, defaultPartitions(config, bus));
  const store = lakeStoreFromConfig(config);
  const metrics = lakeMetrics(deps.registry);
  const writers: LakeWriter[] = [];
  const sources: Source[] = [];
  const silver = silverLayer(
    {
      topic,
      allowedLatenessMs: config.lakeLatenessMs,
      sessionGapMs: config.sessionGapMs,
      idleTimeoutMs: config.lakeIdleTimeoutMs,
    },
    { dropped: (reason) => metrics.silverDropped.inc({ reason }) },
  );
  const layers = [bronzeLayer(topic), silver].filter(
    (l) => config.lakeLayers === 'all' || config.lakeLayers === l.name,
  );
  for (const layer of layers) {
    const writer = new LakeWriter({
      layer,
      store,
      log: new LakeCommitLog(pool, layer.name, topic),
      owner: `${hostname()}:${process.pid}`,
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
      group: `rtsa-lake-${layer.name}`,
      maxBatch: 10_000,
      idleIntervalMs: 500,
    });
    await source.start(writer);
    writers.push(writer);
    sources.push(source);
  }
  const lagTimer = setInterval(() => {
    for (const [i, source] of sources.entries()) {
      const writer = writers[i]!;
      source
        .endOffsets()
        .then((ends) => {
          const committed = writer.committedOffsets();
          for (const [p, end] of ends) {
            const at = committed.get(p);
            if (at !== undefined)
              metrics.lag.set({ layer: layers[i]!.name, partition: String(p) }, Math.max(0, end - at));
          }
        })
        .catch(() => {});
    }
  }, 2_000);
  lagTimer.unref();
  logger.info({ topic, lake: store.location, layers: writers.length }, 'lake writers started');
  return {
    writers,
    location: store.location,
    done: Promise.all(sources.map((s) => s.done)).then(() => {}),
    stop: async () => {
      clearInterval(lagTimer);
      for (const s of sources) await s.stop();
      for (const w of writers) await w.close();
      await store.close();
    },
  };
}

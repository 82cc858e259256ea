/**
 * The lake writers over several cores (RTSA_LAKE_THREADS=N), the processor threads' design
 * (processor-threads.ts): each thread runs whole writers for its units — first one thread per
 * layer (bronze and silver encode their Parquet side by side, whatever the partition count), then
 * each layer's partitions split among more (dealt by size on the embedded log, assignment.ts; the
 * group's assignment on Kafka). Each writer claims its partitions in Postgres under its own owner
 * (`host:pid/lN`), so exactly-once into files is the one between processes.
 */
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import type { Bus } from '../bus/types.ts';
import type { Config } from '../config/index.ts';
import type { LakeThreadData } from './lake-thread.ts';
import { type LakeUnit, lakeLayerNames, lakeMetrics } from './lake-units.ts';
import { type RoleThreads, startRoleThreads } from './role-threads.ts';
import { dealPartitions, sharedLogFor } from './thread-bus.ts';

/** The units of N threads: every layer, then as many members per layer as threads allow (≤ partitions). */
export function lakeThreadUnits(config: Config, threads: number, partitions: number): LakeUnit[] {
  const layers = lakeLayerNames(config);
  const members = Math.max(1, Math.min(partitions, Math.floor(threads / layers.length)));
  return layers.flatMap((layer) =>
    Array.from({ length: members }, (_, index) =>
      members === 1 ? { layer } : { layer, member: { index, count: members } },
    ),
  );
}

export async function startLakeThreads(deps: {
  config: Config;
  bus: Bus;
  databaseUrl: string;
  partitions: number;
  registry: Registry;
  logger: Logger;
  owner: string;
}): Promise<RoleThreads> {
  const { config } = deps;
  const units = lakeThreadUnits(config, config.lakeThreads, deps.partitions);
  if (units.length < config.lakeThreads) {
    deps.logger.warn(
      { threads: config.lakeThreads, layers: lakeLayerNames(config).length, partitions: deps.partitions },
      `RTSA_LAKE_THREADS is ${config.lakeThreads}, but the layers and partitions make ${units.length} unit(s): running ${units.length} thread(s)`,
    );
  }
  const log = await sharedLogFor(deps.bus, config, config.commerceTopic);
  // Each layer's members split the topic the same way.
  const members = units.find((u) => u.member !== undefined)?.member?.count;
  const dealt =
    members === undefined ? undefined : await dealPartitions(deps.bus, config.commerceTopic, members);
  const unitOf = (index: number): LakeUnit => {
    const unit = units[index]!;
    if (dealt === undefined || unit.member === undefined) return unit;
    return { ...unit, member: { ...unit.member, partitions: dealt[unit.member.index] } };
  };
  return startRoleThreads({
    what: 'lake thread',
    entry: new URL('./lake-thread.ts', import.meta.url),
    threads: units.length,
    data: (index): LakeThreadData => ({
      config,
      databaseUrl: deps.databaseUrl,
      owner: `${deps.owner}/l${index}`,
      unit: unitOf(index),
      ...(log !== undefined ? { log } : {}),
    }),
    logLevel: config.logLevel,
    registry: deps.registry,
    metrics: lakeMetrics,
    logger: deps.logger,
  });
}

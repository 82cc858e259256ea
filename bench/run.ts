/**
 * `npm run bench [scenario ...] [-- --events N]`: rtsa's benchmarks, on the real code paths.
 * Prints the setup, a progress line per phase, and one JSON line per result (prefixed `RESULT`),
 * and writes them to bench/results/<scenario>.json. Scenarios:
 *   throughput — pre-filled embedded log → processor → Postgres, exactly-once commits on;
 *                --threads T: T processor threads over --partitions P (default T) partitions
 *   freshness  — `rtsa start` at 20,000 events/s; probe events posted and polled on /metrics/latest
 *   startup    — `rtsa start` on a fresh data folder until the first window is visible
 *   memory     — heap per 1M event_ids held for deduplication
 *   api-load   — requests/s and p99 of the hot endpoints over 1,000 streams x 24 h of windows
 *   warehouse  — the daily warehouse load of one day of N commerce events, then the marts built and
 *                tested; --days D: D days of N each, loaded in date order; --empty-days E: on top
 *                of E empty daily partitions (a warehouse that keeps E days; run by name)
 *   dag        — one run of the whole daily DAG over a day of N commerce events (run by name)
 *   lake       — the lake writers (bronze, silver) on N pre-filled commerce events (run by name)
 *   lake-threads — the lake role (bronze and silver together) with 1 and 2 lake threads (run by name)
 *   lake-engine — Parquet writers for the lake compared on 1M commerce events (run by name)
 *   lake-parse — events/s of the commerce event contract (run by name)
 *   kpi        — the KPI endpoints over marts at scale, a different URL per request (run by name)
 *   feed       — 1,000 viewers of the live commerce feed at 1,000 events/s (run by name)
 *   marts      — build and test the marts over --facts N generated warehouse facts (run by name)
 *   spark      — system A on Spark (the seed's job) and on rtsa, same Kafka topic (KAFKA_BROKERS; by name)
 *   spark-lake — bronze and silver on Spark (the seed's job) and on rtsa, same Kafka topic (by name)
 *   spark-warehouse — the daily warehouse load on Spark (the seed's batch loader) and on rtsa, same
 *                silver day, same Postgres (a venv with pyspark; by name)
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { cpus, totalmem } from 'node:os';
import { parseArgs } from 'node:util';
import { runApiLoad } from './api-load.ts';
import type { BenchOptions } from './options.ts';
import { runFreshness } from './freshness.ts';
import { runKafkaFailover } from './kafka-failover.ts';
import { runKafkaFreshness } from './kafka-freshness.ts';
import { runKafkaProducer } from './kafka-producer.ts';
import { runKafkaScaling, runKafkaThroughput } from './kafka-throughput-e2e.ts';
import { runFeedLoad, runKpiLoad } from './kpi.ts';
import { runLake } from './lake.ts';
import { runWarehouse } from './warehouse.ts';
import { runDag } from './dag.ts';
import { runLakeEngine } from './lake-engine.ts';
import { runLakeParse } from './lake-parse.ts';
import { runLakeThreads } from './lake-threads.ts';
import { runMarts } from './marts.ts';
import { runMemory } from './memory.ts';
import { runStartup } from './startup.ts';
import { runSparkLake } from './spark/lake.ts';
import { runSparkLiveStream } from './spark/live-stream.ts';
import { runSparkWarehouse } from './spark/warehouse.ts';
import { runThroughput } from './throughput.ts';

const SCENARIOS: Record<string, (opts: BenchOptions) => Promise<Record<string, unknown>>> = {
  throughput: runThroughput,
  freshness: runFreshness,
  startup: runStartup,
  memory: runMemory,
  'api-load': runApiLoad,
  // System B; run by name: see docs/benchmarks.md.
  lake: runLake,
  warehouse: runWarehouse,
  dag: runDag,
  'lake-engine': runLakeEngine,
  'lake-threads': runLakeThreads,
  'lake-parse': runLakeParse,
  kpi: runKpiLoad,
  feed: runFeedLoad,
  marts: runMarts,
  // Need a broker (KAFKA_BROKERS); not run by default: see docs/benchmarks-kafka.md.
  'kafka-throughput': runKafkaThroughput,
  'kafka-scaling': runKafkaScaling,
  'kafka-freshness': runKafkaFreshness,
  'kafka-producer': runKafkaProducer,
  'kafka-failover': runKafkaFailover,
  // Spark side by side (a venv with pyspark, a broker): see docs/benchmarks-kafka.md.
  spark: runSparkLiveStream,
  'spark-lake': runSparkLake,
  'spark-warehouse': runSparkWarehouse,
};

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    events: { type: 'string', default: '2000000' },
    facts: { type: 'string', default: '10000000' },
    seconds: { type: 'string', default: '30' },
    rate: { type: 'string', default: '20000' },
    days: { type: 'string', default: '1' },
    'empty-days': { type: 'string', default: '0' },
    threads: { type: 'string', default: '1' },
    partitions: { type: 'string' },
  },
});
// The kafka-* scenarios need a broker: run them by name.
const chosen =
  positionals.length > 0
    ? positionals
    : Object.keys(SCENARIOS).filter(
        (n) =>
          !n.startsWith('kafka-') &&
          !n.startsWith('lake') &&
          !n.startsWith('spark') &&
          !['warehouse', 'dag', 'kpi', 'feed', 'marts'].includes(n),
      );
for (const name of chosen) {
  if (!SCENARIOS[name]) {
    console.error(`unknown scenario "${name}": one of ${Object.keys(SCENARIOS).join(', ')}`);
    process.exit(2);
  }
}
const options: BenchOptions = {
  events: Number(values.events),
  facts: Number(values.facts),
  seconds: Number(values.seconds),
  rate: Number(values.rate),
  days: Number(values.days),
  emptyDays: Number(values['empty-days']),
  threads: Number(values.threads),
  partitions: Number(values.partitions ?? values.threads),
};
console.log(
  `setup: ${cpus().length} cores (${cpus()[0]?.model ?? '?'}), ${(totalmem() / 2 ** 30).toFixed(0)} GiB, node ${process.version}, ` +
    `embedded Postgres, embedded log; options ${JSON.stringify(options)}`,
);
await mkdir('bench/results', { recursive: true });
for (const name of chosen) {
  console.log(`\n== ${name}`);
  const result = { scenario: name, at: new Date().toISOString(), ...(await SCENARIOS[name]!(options)) };
  console.log(`RESULT ${JSON.stringify(result)}`);
  await writeFile(`bench/results/${name}.json`, `${JSON.stringify(result, null, 2)}\n`);
}

/**
 * What `npm run bench -- <name> [--events N] [--facts N] [--seconds S] [--rate R] [--days D]
 * [--empty-days E] [--threads T] [--partitions P]` hands each benchmark.
 */
export interface BenchOptions {
  events: number;
  /** Warehouse facts the marts benchmark generates. */
  facts: number;
  seconds: number;
  rate: number;
  /** Days of data the warehouse benchmark loads, one after the other. */
  days: number;
  /** Empty daily partitions of the fact tables the warehouse benchmark starts with (days kept). */
  emptyDays: number;
  /** Processor threads of the throughput benchmark. */
  threads: number;
  /** Partitions of its log (default: one per thread). */
  partitions: number;
}

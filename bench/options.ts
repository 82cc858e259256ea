/** What `npm run bench -- <name> [--events N] [--facts N] [--seconds S] [--rate R]` hands each benchmark. */
export interface BenchOptions {
  events: number;
  /** Warehouse facts the marts benchmark generates. */
  facts: number;
  seconds: number;
  rate: number;
}

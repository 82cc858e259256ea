/** What `npm run bench -- <name> [--events N] [--seconds S] [--rate R]` hands each benchmark. */
export interface BenchOptions {
  events: number;
  seconds: number;
  rate: number;
}

/**
 * The API's Prometheus metrics, with the names users' dashboards and alerts know (docs/observability.md):
 *   api_http_requests_total{method,path,status}     path is the route pattern, "unmatched" for 404s
 *   api_http_request_duration_seconds{method,path}  histogram
 *   api_db_ok                                       1 when the database answered the last sample
 *   api_stream_metrics_rows_recent                  rows with window_start in the last 5 minutes
 *   api_donation_rows_recent                        the same with donation_count > 0
 *   api_latest_window_age_seconds                   now - window_end of the newest window, floored at 0
 *                                                   (0 while that window is still open; NaN when empty)
 *   api_windows_in_memory                           windows the window endpoints answer from memory
 *   api_window_reads_total{source}                  window endpoint results from memory or postgres
 * plus ingest counters for POST /events. The database gauges are sampled at scrape time with one
 * index-friendly query, cached for a second so scrape storms cost one query.
 * Metrics go on the injected registry; building a second API on the same registry replaces them.
 */
import type pg from 'pg';
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { Logger } from 'pino';
import { selectServingGauges } from '../serving/index.ts';
import { withTimeout } from '../../http/timeout.ts';

const SAMPLE_TTL_MS = 1000;
const SAMPLE_TIMEOUT_MS = 1000;

/** Request durations: fine-grained below 20 ms (the p99 target), coarse above. */
const DURATION_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/** Methods Node's parser accepts are bounded, but only these are worth a label of their own. */
const METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']);

export interface DatabaseSample {
  ok: boolean;
  rowsRecent: number;
  donationRowsRecent: number;
  latestWindowAgeSeconds: number;
}

/** The database gauges' values, sampled at most once a second however often Prometheus scrapes. */
export class DatabaseSampler {
  private readonly pool: pg.Pool;
  private readonly logger: Logger;
  private cached: { at: number; value: Promise<DatabaseSample> } | undefined;

  constructor(pool: pg.Pool, logger: Logger) {
    this.pool = pool;
    this.logger = logger;
  }

  /** Never rejects: a database that fails or hangs gives ok=false and NaN (unknown) values. */
  sample(): Promise<DatabaseSample> {
    const now = performance.now();
    if (this.cached !== undefined && now - this.cached.at < SAMPLE_TTL_MS) return this.cached.value;
    const value = this.query();
    this.cached = { at: now, value };
    return value;
  }

  private async query(): Promise<DatabaseSample> {
    try {
      const g = await withTimeout(selectServingGauges(this.pool), SAMPLE_TIMEOUT_MS, 'database gauges query');
      return {
        ok: true,
        rowsRecent: g.rowsRecent,
        donationRowsRecent: g.donationRowsRecent,
        latestWindowAgeSeconds:
          g.latestWindowAgeSeconds === null ? Number.NaN : Math.max(0, g.latestWindowAgeSeconds),
      };
    } catch (error) {
      this.logger.warn({ err: error }, 'cannot sample the database for /prometheus');
      return {
        ok: false,
        rowsRecent: Number.NaN,
        donationRowsRecent: Number.NaN,
        latestWindowAgeSeconds: Number.NaN,
      };
    }
  }
}

export interface ApiMetrics {
  /** Counts one finished request; `route` is the route pattern or undefined when none matched. */
  observeRequest(method: string, route: string | undefined, status: number, seconds: number): void;
  /** Counts one window endpoint result by where it came from. */
  observeWindowRead(source: 'memory' | 'postgres'): void;
  /** Counts the outcome of POST /events. */
  observeIngest(accepted: number, rejectedByReason: ReadonlyMap<string, number>): void;
}

/** Registers the API's metrics on `registry` (replacing same-named ones from an earlier API). */
export function registerApiMetrics(
  registry: Registry,
  sampler: DatabaseSampler,
  windowsInMemory: () => number = () => 0,
): ApiMetrics {
  const fresh = (name: string) => {
    registry.removeSingleMetric(name);
    return name;
  };
  const requests = new Counter({
    name: fresh('api_http_requests_total'),
    help: 'HTTP requests by method, route pattern (unmatched: no route) and status.',
    labelNames: ['method', 'path', 'status'] as const,
    registers: [registry],
  });
  const duration = new Histogram({
    name: fresh('api_http_request_duration_seconds'),
    help: 'HTTP request duration in seconds, by method and route pattern.',
    labelNames: ['method', 'path'] as const,
    buckets: DURATION_BUCKETS,
    registers: [registry],
  });
  new Gauge({
    name: fresh('api_db_ok'),
    help: '1 when the database answered the last sample (taken at scrape time), else 0.',
    registers: [registry],
    async collect() {
      this.set((await sampler.sample()).ok ? 1 : 0);
    },
  });
  new Gauge({
    name: fresh('api_stream_metrics_rows_recent'),
    help: 'stream_metrics_minute rows whose window_start is within the last 5 minutes of wall clock.',
    registers: [registry],
    async collect() {
      this.set((await sampler.sample()).rowsRecent);
    },
  });
  new Gauge({
    name: fresh('api_donation_rows_recent'),
    help: 'stream_metrics_minute rows within the last 5 minutes of wall clock with at least one donation.',
    registers: [registry],
    async collect() {
      this.set((await sampler.sample()).donationRowsRecent);
    },
  });
  new Gauge({
    name: fresh('api_latest_window_age_seconds'),
    help: 'Seconds since the end of the newest window (0 while it is still open; NaN when there is none).',
    registers: [registry],
    async collect() {
      this.set((await sampler.sample()).latestWindowAgeSeconds);
    },
  });
  new Gauge({
    name: fresh('api_windows_in_memory'),
    help: 'Windows the window endpoints answer from memory (0 while loading, reconnecting, or turned off).',
    registers: [registry],
    collect() {
      this.set(windowsInMemory());
    },
  });
  const windowReads = new Counter({
    name: fresh('api_window_reads_total'),
    help: 'Window endpoint results by where they came from: memory, or postgres (memory off, not loaded, or a range older than it holds).',
    labelNames: ['source'] as const,
    registers: [registry],
  });
  const accepted = new Counter({
    name: fresh('api_ingest_events_accepted_total'),
    help: 'Events accepted by POST /events and appended to the topic.',
    registers: [registry],
  });
  const rejected = new Counter({
    name: fresh('api_ingest_events_rejected_total'),
    help: 'Events refused by POST /events (kept in dead_letter_events), by reason.',
    labelNames: ['reason'] as const,
    registers: [registry],
  });

  return {
    observeRequest(method, route, status, seconds) {
      const labels = { method: METHODS.has(method) ? method : 'other', path: route ?? 'unmatched' };
      requests.inc({ ...labels, status: String(status) });
      duration.observe(labels, seconds);
    },
    observeWindowRead(source) {
      windowReads.inc({ source });
    },
    observeIngest(count, rejectedByReason) {
      if (count > 0) accepted.inc(count);
      for (const [reason, n] of rejectedByReason) rejected.inc({ reason }, n);
    },
  };
}

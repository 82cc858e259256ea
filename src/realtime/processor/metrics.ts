import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import { STREAM_DEAD_LETTER_REASONS, STREAM_EVENT_TYPES } from '../../events/stream-event.ts';

/**
 * The processor's own Prometheus metrics, registered on an injected registry. With processor
 * threads each thread has its own and the process shows them merged (processor-threads.ts):
 * counters, histograms and most gauges summed; the watermark is the lowest, its lag the largest.
 */
export function createProcessorMetrics(registry: Registry) {
  const registers = [registry];
  const metrics = {
    events: new Counter({
      name: 'rtsa_processor_events_total',
      help: 'Events counted into windows, by event type',
      labelNames: ['event_type'],
      registers,
    }),
    deadLetters: new Counter({
      name: 'rtsa_processor_dead_letter_total',
      help: `Events not counted and kept in dead_letter_events, by reason (${STREAM_DEAD_LETTER_REASONS.join(', ')})`,
      labelNames: ['reason'],
      registers,
    }),
    lateEvents: new Counter({
      name: 'rtsa_processor_late_events_total',
      help: 'Events older than the watermark (kept in dead_letter_events with reason late)',
      registers,
    }),
    duplicates: new Counter({
      name: 'rtsa_processor_duplicate_events_total',
      help: 'Events whose event_id was already counted',
      registers,
    }),
    commits: new Counter({ name: 'rtsa_processor_commits_total', help: 'Transactions committed', registers }),
    commitFailures: new Counter({
      name: 'rtsa_processor_commit_failures_total',
      help: 'Commit attempts that failed (retried with back-off)',
      registers,
    }),
    commitDuration: new Histogram({
      name: 'rtsa_processor_commit_duration_seconds',
      help: 'Duration of one results+offsets transaction',
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers,
    }),
    freshness: new Histogram({
      name: 'rtsa_processor_freshness_seconds',
      help: 'From the log accepting the oldest record of a commit to that commit being durable',
      buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 0.75, 1, 2, 5, 10],
      registers,
    }),
    rowsUpserted: new Counter({
      name: 'rtsa_processor_rows_upserted_total',
      help: 'Rows written per table',
      labelNames: ['table'],
      registers,
    }),
    watermark: new Gauge({
      name: 'rtsa_processor_watermark_seconds',
      help: 'Lowest watermark over owned partitions (unix seconds of event time)',
      aggregator: 'min',
      registers,
    }),
    watermarkLag: new Gauge({
      name: 'rtsa_processor_watermark_lag_seconds',
      help: 'Wall clock minus the lowest watermark',
      aggregator: 'max',
      registers,
    }),
    consumerLag: new Gauge({
      name: 'rtsa_processor_consumer_lag',
      help: 'Records in the log not yet processed, per partition',
      labelNames: ['partition'],
      registers,
    }),
    openWindows: new Gauge({
      name: 'rtsa_processor_open_windows',
      help: 'Windows not yet final, in memory',
      registers,
    }),
    dedupKeys: new Gauge({
      name: 'rtsa_processor_dedup_keys',
      help: 'event_ids held for deduplication',
      registers,
    }),
    partitions: new Gauge({
      name: 'rtsa_processor_partitions',
      help: 'Partitions owned by this processor',
      registers,
    }),
  };
  // Every series from the start at 0, so a dashboard or an alert on `increase(…)` sees the first
  // dead letter or event of a kind instead of a series that appears out of nothing.
  for (const reason of STREAM_DEAD_LETTER_REASONS) metrics.deadLetters.inc({ reason }, 0);
  for (const type of STREAM_EVENT_TYPES) metrics.events.inc({ event_type: type }, 0);
  return metrics;
}

export type ProcessorMetrics = ReturnType<typeof createProcessorMetrics>;

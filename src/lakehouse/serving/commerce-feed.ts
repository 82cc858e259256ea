/**
 * The source of the live commerce feed: each API process reads the commerce topic itself, as a
 * consumer group of its own (so every process, and through it every viewer, sees every event), and
 * keeps what silver keeps, by silver's rules:
 *   - the event contract (src/events/commerce-event.ts): invalid records are counted, not shown;
 *   - lateness: an event older than the partition's watermark (max event time seen, each event
 *     capped by its arrival, minus the allowed lateness) is counted as late, not shown;
 *   - dedup on idempotency_key: the first occurrence wins, over the newest `dedupKeys` keys.
 * Silver writes an event only when its session closes (30+ minutes after it), so a feed of silver's
 * files would be half an hour behind; this shows the same events the moment they are durable in
 * the log. Why the bus and not Postgres NOTIFY: docs/lakehouse.md ("The live feed").
 * Shown are the records appended after the feed started; the last `dedupKeys` records before them
 * are read first, shown to nobody, so that the keys and watermarks they hold are known: a copy or a
 * late event sent after a restart is kept out as it would have been without the restart.
 */
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import type { Bus, BusRecord, Source, SourceHandler } from '../../bus/types.ts';
import { parseCommerceEvent } from '../../events/commerce-event.ts';
import { formatMicros, MICROS_PER_MS } from '../../events/timestamp.ts';
import { usdRate } from '../currency.ts';
import type { FeedEvent, FeedHub } from './feed-hub.ts';

export interface FeedCounters {
  accepted: number;
  invalid: number;
  late: number;
  duplicates: number;
}

type Payload = Record<string, unknown>;
const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);
const num = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);

/** The feed's view of a valid event: the envelope and the payload fields a person looks at. */
export function toFeedEvent(
  event: import('../../events/commerce-event.ts').CommerceEvent,
  micros: number,
): FeedEvent {
  const p = event.payload as Payload;
  const out: FeedEvent = {
    event_id: event.event_id,
    event_type: event.event_type,
    timestamp: formatMicros(micros),
    user_id: event.user_id,
    device_type: event.device_type,
  };
  switch (event.event_type) {
    case 'purchase': {
      const amount = num(p.total_amount);
      const currency = str(p.currency);
      out.amount = amount;
      out.currency = currency;
      if (amount !== undefined) out.amount_usd = Math.round(amount * usdRate(currency ?? 'USD') * 100) / 100;
      out.product_id = str(p.product_id);
      break;
    }
    case 'payment_failed':
      out.amount = num(p.attempted_amount);
      out.currency = str(p.currency);
      out.failure_reason = str(p.failure_reason);
      break;
    case 'page_view':
      out.page_url = str(p.page_url);
      break;
    case 'user_signup':
      out.plan_type = str(p.plan_type) ?? 'free';
      break;
  }
  return out;
}

/** Keys the feed remembers for dedup (and records it reads before its start). */
const DEFAULT_DEDUP_KEYS = 200_000;

/** Silver's per-record rules, without sessions: what a record becomes in the feed. */
export class FeedFilter {
  private readonly latenessMicros: number;
  private readonly maxFutureSkewMicros: number;
  private readonly dedupKeys: number;
  private readonly maxTs = new Map<number, number>();
  private readonly keys = new Set<string>();
  readonly counters: FeedCounters = { accepted: 0, invalid: 0, late: 0, duplicates: 0 };

  constructor(options: {
    allowedLatenessMs: number;
    maxFutureSkewMs?: number | undefined;
    dedupKeys?: number | undefined;
  }) {
    this.latenessMicros = options.allowedLatenessMs * MICROS_PER_MS;
    this.maxFutureSkewMicros = (options.maxFutureSkewMs ?? Number.POSITIVE_INFINITY) * MICROS_PER_MS;
    this.dedupKeys = options.dedupKeys ?? DEFAULT_DEDUP_KEYS;
  }

  /**
   * The feed event of a record, or undefined when silver would not keep it. `counted`: false for
   * the records read before the feed's start (they are not counted in the feed's metrics).
   */
  accept(record: BusRecord, counted = true): FeedEvent | undefined {
    const c = counted ? this.counters : { accepted: 0, invalid: 0, late: 0, duplicates: 0 };
    const parsed = parseCommerceEvent(record.value);
    if (!parsed.ok) {
      c.invalid++;
      return undefined;
    }
    const ts = parsed.timestampMicros;
    if (ts > record.timestamp * MICROS_PER_MS + this.maxFutureSkewMicros) {
      c.invalid++; // silver's future_ts
      return undefined;
    }
    const max = this.maxTs.get(record.partition) ?? Number.NEGATIVE_INFINITY;
    if (ts < max - this.latenessMicros) {
      c.late++;
      return undefined;
    }
    const key = parsed.event.idempotency_key;
    if (this.keys.has(key)) {
      c.duplicates++;
      return undefined;
    }
    this.keys.add(key);
    if (this.keys.size > this.dedupKeys) {
      // A Set iterates in insertion order: the oldest key goes first.
      const oldest = this.keys.values().next().value as string;
      this.keys.delete(oldest);
    }
    const contribution = Math.min(ts, record.timestamp * MICROS_PER_MS);
    if (contribution > max) this.maxTs.set(record.partition, contribution);
    c.accepted++;
    return toFeedEvent(parsed.event, ts);
  }
}

/**
 * Publishes what the filter keeps of the records appended after the start, having read up to
 * `warmRecords` records before them (spread over the partitions) into the filter, and what it kept
 * of those into the hub's recent events (a viewer after a restart sees the newest at once).
 */
class FeedHandler implements SourceHandler {
  source: Source | undefined;
  private readonly filter: FeedFilter;
  private readonly hub: FeedHub;
  private readonly warmRecords: number;
  /** Per partition, the first offset shown: the end of the log when the feed started. */
  private readonly liveFrom = new Map<number, number>();

  constructor(filter: FeedFilter, hub: FeedHub, warmRecords: number) {
    this.filter = filter;
    this.hub = hub;
    this.warmRecords = warmRecords;
  }

  async assigned(partitions: readonly number[]): Promise<Map<number, number>> {
    const [ends, starts] = await Promise.all([this.source!.endOffsets(), this.source!.startOffsets()]);
    const back = Math.ceil(this.warmRecords / Math.max(1, partitions.length));
    const from = new Map<number, number>();
    for (const p of partitions) {
      const end = ends.get(p) ?? 0;
      if (!this.liveFrom.has(p)) this.liveFrom.set(p, end);
      from.set(p, Math.max(starts.get(p) ?? 0, Math.min(end, this.liveFrom.get(p)!) - back));
    }
    return from;
  }

  async revoked(): Promise<void> {}

  async records(batch: readonly BusRecord[]): Promise<void> {
    const events: FeedEvent[] = [];
    const earlier: FeedEvent[] = [];
    for (const record of batch) {
      const live = record.offset >= (this.liveFrom.get(record.partition) ?? 0);
      const e = this.filter.accept(record, live);
      if (e !== undefined) (live ? events : earlier).push(e);
    }
    // Read before the start: not news, but what a viewer who joins now should see first.
    if (earlier.length > 0) this.hub.remember(earlier);
    if (events.length > 0) this.hub.publish(events);
  }
}

export interface CommerceFeed {
  readonly counters: FeedCounters;
  /** Settles when the reading ends: rejects if the bus gave up. */
  readonly done: Promise<void>;
  stop(): Promise<void>;
}

/**
 * Starts reading `topic` for the feed. The consumer group is unique to this process
 * (`rtsa-feed-<host>-<pid>-<random>`) and commits nothing: a restart publishes from the end again,
 * with the newest events before it as the recent ones.
 */
export async function startCommerceFeed(deps: {
  bus: Bus;
  topic: string;
  hub: FeedHub;
  logger: Logger;
  allowedLatenessMs: number;
  maxFutureSkewMs?: number | undefined;
  dedupKeys?: number | undefined;
}): Promise<CommerceFeed> {
  const filter = new FeedFilter({
    allowedLatenessMs: deps.allowedLatenessMs,
    maxFutureSkewMs: deps.maxFutureSkewMs,
    dedupKeys: deps.dedupKeys,
  });
  const handler = new FeedHandler(filter, deps.hub, deps.dedupKeys ?? DEFAULT_DEDUP_KEYS);
  const group = `rtsa-feed-${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`;
  const source = deps.bus.source({ topic: deps.topic, group, maxBatch: 2_000, idleIntervalMs: 1_000 });
  handler.source = source;
  await source.start(handler);
  deps.logger.info(
    { topic: deps.topic, group },
    'commerce feed showing what is appended from now on (the records before it read for dedup, lateness and the recent events)',
  );
  const done = source.done;
  done.catch((error: unknown) => deps.logger.error({ err: error }, 'commerce feed stopped'));
  return { counters: filter.counters, done, stop: () => source.stop() };
}

/**
 * The source of the live commerce feed: each API process reads the commerce topic itself, from the
 * end of the log, as a consumer group of its own (so every process, and through it every viewer,
 * sees every event), and keeps what silver keeps, by silver's rules:
 *   - the event contract (src/events/commerce-event.ts): invalid records are counted, not shown;
 *   - lateness: an event older than the partition's watermark (max event time seen, each event
 *     capped by its arrival, minus the allowed lateness) is counted as late, not shown;
 *   - dedup on idempotency_key: the first occurrence wins, over the newest `dedupKeys` keys.
 * Silver writes an event only when its session closes (30+ minutes after it), so a feed of silver's
 * files would be half an hour behind; this shows the same events the moment they are durable in
 * the log. Why the bus and not Postgres NOTIFY: docs/lakehouse.md ("The live feed").
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

/** Silver's per-record rules, without sessions: what a record becomes in the feed. */
export class FeedFilter {
  private readonly latenessMicros: number;
  private readonly dedupKeys: number;
  private readonly maxTs = new Map<number, number>();
  private readonly keys = new Set<string>();
  readonly counters: FeedCounters = { accepted: 0, invalid: 0, late: 0, duplicates: 0 };

  constructor(options: { allowedLatenessMs: number; dedupKeys?: number | undefined }) {
    this.latenessMicros = options.allowedLatenessMs * MICROS_PER_MS;
    this.dedupKeys = options.dedupKeys ?? 200_000;
  }

  /** The feed event of a record, or undefined when silver would not keep it. */
  accept(record: BusRecord): FeedEvent | undefined {
    const parsed = parseCommerceEvent(record.value);
    if (!parsed.ok) {
      this.counters.invalid++;
      return undefined;
    }
    const ts = parsed.timestampMicros;
    const max = this.maxTs.get(record.partition) ?? Number.NEGATIVE_INFINITY;
    if (ts < max - this.latenessMicros) {
      this.counters.late++;
      return undefined;
    }
    const key = parsed.event.idempotency_key;
    if (this.keys.has(key)) {
      this.counters.duplicates++;
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
    this.counters.accepted++;
    return toFeedEvent(parsed.event, ts);
  }
}

/** Reads the topic from its end and publishes what the filter keeps. */
class FeedHandler implements SourceHandler {
  source: Source | undefined;
  private readonly filter: FeedFilter;
  private readonly hub: FeedHub;

  constructor(filter: FeedFilter, hub: FeedHub) {
    this.filter = filter;
    this.hub = hub;
  }

  async assigned(partitions: readonly number[]): Promise<Map<number, number>> {
    const ends = await this.source!.endOffsets();
    return new Map(partitions.map((p) => [p, ends.get(p) ?? 0]));
  }

  async revoked(): Promise<void> {}

  async records(batch: readonly BusRecord[]): Promise<void> {
    const events: FeedEvent[] = [];
    for (const record of batch) {
      const e = this.filter.accept(record);
      if (e !== undefined) events.push(e);
    }
    this.hub.publish(events);
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
 * (`rtsa-feed-<host>-<pid>-<random>`) and commits nothing: a restart starts from the end again.
 */
export async function startCommerceFeed(deps: {
  bus: Bus;
  topic: string;
  hub: FeedHub;
  logger: Logger;
  allowedLatenessMs: number;
  dedupKeys?: number | undefined;
}): Promise<CommerceFeed> {
  const filter = new FeedFilter({ allowedLatenessMs: deps.allowedLatenessMs, dedupKeys: deps.dedupKeys });
  const handler = new FeedHandler(filter, deps.hub);
  const group = `rtsa-feed-${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`;
  const source = deps.bus.source({ topic: deps.topic, group, maxBatch: 2_000, idleIntervalMs: 1_000 });
  handler.source = source;
  await source.start(handler);
  deps.logger.info({ topic: deps.topic, group }, 'commerce feed reading from the end of the log');
  const done = source.done;
  done.catch((error: unknown) => deps.logger.error({ err: error }, 'commerce feed stopped'));
  return { counters: filter.counters, done, stop: () => source.stop() };
}

/**
 * The fan-out of the live commerce feed (GET /kpi/feed): every connected viewer gets every event,
 * each viewer's memory bounded.
 *
 * - Events are gathered for `frameIntervalMs` (100 ms) and sent as one Server-Sent Event, made once
 *   as bytes and written to every viewer (the same Buffer: no copy per viewer). At 1,000 events/s
 *   that is 10 writes a second per viewer instead of 1,000.
 * - A viewer whose connection holds more than `maxBufferedBytes` unsent skips frames instead of
 *   buffering them; when it drains, it first gets an `event: skipped` naming how many events it
 *   missed, then the live frames again. One that has not drained for `slowClientMs` is closed (the
 *   browser reconnects by itself). So a slow viewer costs at most about maxBufferedBytes, never more.
 * - The newest `recentSize` events are kept so a viewer who joins sees something at once, after a
 *   restart too (`remember`: the events the feed read from the log before its start).
 * - An `event: heartbeat` every `heartbeatMs` keeps proxies from closing an idle-looking connection
 *   and tells the browser the connection is alive while no event arrives.
 */
import { PassThrough } from 'node:stream';
import type { Logger } from 'pino';

/** One processed commerce event as the feed shows it. */
export interface FeedEvent {
  event_id: string;
  event_type: string;
  /** The event's own time, ISO-8601 UTC. */
  timestamp: string;
  user_id: string;
  device_type: string;
  /** Purchases: total_amount; payment failures: attempted_amount (in `currency`). */
  amount?: number | undefined;
  currency?: string | undefined;
  amount_usd?: number | undefined;
  product_id?: string | undefined;
  page_url?: string | undefined;
  failure_reason?: string | undefined;
  plan_type?: string | undefined;
}

export interface FeedHubOptions {
  logger: Logger;
  /** Events are batched into one frame per this interval (default 100 ms). */
  frameIntervalMs?: number | undefined;
  /** A viewer with more unsent bytes than this skips frames (default 1 MiB). */
  maxBufferedBytes?: number | undefined;
  /** A viewer that has not drained for this long is disconnected (default 30 s). */
  slowClientMs?: number | undefined;
  /** Concurrent viewers (default 2,000); more get a 503. */
  maxClients?: number | undefined;
  /** Concurrent viewers from one address (default 20). */
  maxClientsPerAddress?: number | undefined;
  /** Newest events kept for viewers who join (default 200). */
  recentSize?: number | undefined;
  heartbeatMs?: number | undefined;
}

export class FeedFullError extends Error {
  readonly perAddress: boolean;
  constructor(message: string, perAddress: boolean) {
    super(message);
    this.name = 'FeedFullError';
    this.perAddress = perAddress;
  }
}

interface Viewer {
  readonly out: PassThrough;
  readonly address: string;
  skipped: number;
  blockedSince: number;
}

/** Tells the browser how long to wait before reconnecting. */
const RETRY_MS = 2000;

export class FeedHub {
  private readonly logger: Logger;
  private readonly frameIntervalMs: number;
  private readonly maxBufferedBytes: number;
  private readonly slowClientMs: number;
  private readonly maxClients: number;
  private readonly maxClientsPerAddress: number;
  private readonly recentSize: number;
  private readonly viewers = new Set<Viewer>();
  private readonly perAddress = new Map<string, number>();
  private pending: string[] = [];
  private recent: string[] = [];
  private timer: NodeJS.Timeout | undefined;
  private readonly heartbeat: NodeJS.Timeout;
  private seq = 0;
  private closed = false;
  /** Events published per second, the last 60 s (a ring), for events_last_minute. */
  private readonly perSecond = new Array<number>(60).fill(0);
  private secondOf = Math.floor(Date.now() / 1000);
  /** Totals for tests and metrics. */
  readonly stats = { events: 0, frames: 0, skippedEvents: 0, dropped: 0 };

  constructor(options: FeedHubOptions) {
    this.logger = options.logger;
    this.frameIntervalMs = options.frameIntervalMs ?? 100;
    this.maxBufferedBytes = options.maxBufferedBytes ?? 1024 * 1024;
    this.slowClientMs = options.slowClientMs ?? 30_000;
    this.maxClients = options.maxClients ?? 2000;
    this.maxClientsPerAddress = options.maxClientsPerAddress ?? 20;
    this.recentSize = options.recentSize ?? 200;
    // An event, not a comment: browsers see it, so a quiet feed is told from a dead connection.
    this.heartbeat = setInterval(
      () => this.writeAll(Buffer.from(`event: heartbeat\ndata: {"seq":${this.seq}}\n\n`), 0),
      options.heartbeatMs ?? 15_000,
    );
    this.heartbeat.unref();
  }

  get viewerCount(): number {
    return this.viewers.size;
  }

  /** Valid, first-seen events of the last 60 s. */
  eventsLastMinute(now = Date.now()): number {
    this.rotate(Math.floor(now / 1000));
    return this.perSecond.reduce((a, b) => a + b, 0);
  }

  private rotate(second: number): void {
    const steps = Math.min(60, second - this.secondOf);
    for (let i = 1; i <= steps; i++) this.perSecond[(this.secondOf + i) % 60] = 0;
    if (second > this.secondOf) this.secondOf = second;
  }

  /** Queues events for the next frame. */
  publish(events: readonly FeedEvent[]): void {
    if (this.closed || events.length === 0) return;
    const second = Math.floor(Date.now() / 1000);
    this.rotate(second);
    this.perSecond[second % 60]! += events.length;
    this.stats.events += events.length;
    for (const e of events) this.pending.push(JSON.stringify(e));
    this.timer ??= setTimeout(() => this.flush(), this.frameIntervalMs);
  }

  /**
   * Events that were shown before this process started (the feed re-reads the log's tail at start):
   * kept as the newest `recent` ones for viewers who join, neither sent as a frame nor counted.
   */
  remember(events: readonly FeedEvent[]): void {
    if (this.closed || events.length === 0) return;
    for (const e of events.slice(-this.recentSize)) this.recent.push(JSON.stringify(e));
    if (this.recent.length > this.recentSize) this.recent = this.recent.slice(-this.recentSize);
  }

  /** A new viewer: its event stream, already holding the newest `recent` events. Throws FeedFullError at a cap. */
  join(p: { address?: string | undefined; recent: number }): PassThrough {
    if (this.closed) throw new FeedFullError('the server is shutting down; retry later', false);
    const address = p.address ?? '';
    const fromAddress = this.perAddress.get(address) ?? 0;
    if (fromAddress >= this.maxClientsPerAddress) {
      throw new FeedFullError(
        `this address already has ${this.maxClientsPerAddress} feed connections; close one and retry`,
        true,
      );
    }
    if (this.viewers.size >= this.maxClients) {
      throw new FeedFullError(`the feed already has ${this.maxClients} viewers; retry later`, false);
    }
    this.perAddress.set(address, fromAddress + 1);
    const out = new PassThrough();
    const viewer: Viewer = { out, address, skipped: 0, blockedSince: 0 };
    this.viewers.add(viewer);
    out.write(`retry: ${RETRY_MS}\n: rtsa commerce feed\n\n`);
    const recent = p.recent > 0 ? this.recent.slice(-p.recent) : [];
    if (recent.length > 0) out.write(`event: recent\ndata: {"events":[${recent.join(',')}]}\n\n`);
    out.once('close', () => {
      this.viewers.delete(viewer);
      const left = (this.perAddress.get(address) ?? 1) - 1;
      if (left > 0) this.perAddress.set(address, left);
      else this.perAddress.delete(address);
    });
    return out;
  }

  private flush(): void {
    this.timer = undefined;
    if (this.pending.length === 0 || this.closed) return;
    const events = this.pending;
    this.pending = [];
    this.recent =
      this.recent.length + events.length > this.recentSize * 2
        ? [...this.recent, ...events].slice(-this.recentSize)
        : [...this.recent, ...events];
    this.seq++;
    this.stats.frames++;
    const frame = Buffer.from(
      `id: ${this.seq}\ndata: {"seq":${this.seq},"events":[${events.join(',')}]}\n\n`,
    );
    this.writeAll(frame, events.length);
  }

  private writeAll(frame: Buffer, events: number): void {
    const now = Date.now();
    for (const viewer of this.viewers) {
      const { out } = viewer;
      if (!out.writable) continue;
      if (out.writableLength > this.maxBufferedBytes) {
        viewer.skipped += events;
        this.stats.skippedEvents += events;
        if (viewer.blockedSince === 0) viewer.blockedSince = now;
        else if (now - viewer.blockedSince > this.slowClientMs) {
          this.logger.info('commerce feed: dropping a viewer that does not read');
          this.stats.dropped++;
          out.destroy();
        }
        continue;
      }
      viewer.blockedSince = 0;
      if (viewer.skipped > 0 && events > 0) {
        out.write(`event: skipped\ndata: {"skipped_events":${viewer.skipped}}\n\n`);
        viewer.skipped = 0;
      }
      out.write(frame);
    }
  }

  /** Ends every stream (on server close: open streams would keep it waiting). */
  close(): void {
    this.closed = true;
    clearTimeout(this.timer);
    clearInterval(this.heartbeat);
    for (const viewer of this.viewers) viewer.out.end();
    this.viewers.clear();
  }
}

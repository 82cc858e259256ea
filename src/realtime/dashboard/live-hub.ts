/**
 * The live feed behind GET /live: one database poll a second for all connected browsers, whatever
 * their number, and a Server-Sent Events stream per browser.
 *
 * - The poll runs only while someone is connected, and never twice at once: a poll that takes longer
 *   than `pollTimeoutMs` is reported as "database unavailable" (the last data marked stale) and
 *   awaited before the next one starts, so a hung database cannot pile up queries in the pool.
 * - Each poll's JSON is made once: the shared part (health, top streams) once, each selected
 *   stream's series once per length asked for; a browser's frame is a concatenation of those.
 * - A browser that does not keep up (its socket buffer full) skips frames, and is disconnected
 *   after `slowClientMs` of not draining; the browser reconnects by itself.
 * - Comments every `heartbeatMs` keep proxies from closing an idle-looking connection.
 */
import { PassThrough } from 'node:stream';
import type pg from 'pg';
import type { Logger } from 'pino';
import type { PipelineStatus } from '../serving/index.ts';
import { errorMessage } from '../../errors.ts';
import { buildHealth, buildStream, buildTop, type LiveHealth, type LiveTop } from './live-snapshot.ts';
import {
  type Overview,
  type SeriesRow,
  type StreamStateRow,
  selectOverview,
  selectSeries,
  selectStreamStates,
  selectTopStreamsByEveryRanking,
} from '../serving/index.ts';

export interface LiveHubOptions {
  pool: pg.Pool;
  logger: Logger;
  status?: (() => PipelineStatus) | undefined;
  /** Time between polls (default 1000 ms). */
  intervalMs?: number | undefined;
  /** Time between keep-alive comments (default 15 s). */
  heartbeatMs?: number | undefined;
  /** Concurrent /live connections (default 100); more get a 503. */
  maxClients?: number | undefined;
  /** A poll slower than this reports the database unavailable (default 5 s). */
  pollTimeoutMs?: number | undefined;
  /** A browser whose buffer has not drained for this long is disconnected (default 30 s). */
  slowClientMs?: number | undefined;
}

/** The top-streams table: top n of each ranking over the last `minutes` windows. */
export const TOP_MINUTES = 10;
export const TOP_N = 10;

/** Tells the browser how long to wait before reconnecting after the stream ends. */
const RETRY_MS = 2000;

interface Client {
  /** The stream asked for; undefined: follow the top stream by donations at the first poll. */
  readonly streamId: string | undefined;
  pinned: string | undefined;
  readonly minutes: number;
  readonly out: PassThrough;
  /** When writes started being skipped because the buffer is full (0: not blocked). */
  blockedSince: number;
}

/** What one successful poll read. */
interface PollData {
  overview: Overview;
  top: LiveTop | null;
  anchor: Date | null;
  rows: Map<string, SeriesRow[]>;
  states: Map<string, StreamStateRow>;
  /** Streams whose series were read, and how many minutes back. */
  polled: Set<string>;
  seriesMinutes: number;
}

/** One frame for every browser: the shared JSON made once, the per-stream JSON once per stream and length. */
class Frame {
  private readonly head: string;
  private readonly data: PollData | undefined;
  private readonly streams = new Map<string, string>();

  constructor(seq: number, at: Date, health: LiveHealth, data: PollData | undefined) {
    this.data = data;
    this.head = `"seq":${seq},"at":${JSON.stringify(at.toISOString())},"health":${JSON.stringify(health)},"top":${JSON.stringify(data?.top ?? null)}`;
  }

  text(selected: string | undefined, minutes: number): string {
    const stream = selected === undefined ? 'null' : this.stream(selected, minutes);
    return `data: {${this.head},"selected":${JSON.stringify(selected ?? null)},"stream":${stream}}\n\n`;
  }

  private stream(id: string, minutes: number): string {
    const key = `${minutes}\u0000${id}`;
    let json = this.streams.get(key);
    if (json === undefined) {
      const d = this.data;
      json =
        d === undefined || d.anchor === null || !d.polled.has(id) || minutes > d.seriesMinutes
          ? 'null'
          : JSON.stringify(buildStream(id, d.rows.get(id) ?? [], d.states.get(id), d.anchor, minutes));
      this.streams.set(key, json);
    }
    return json;
  }
}

/** The hub takes no more connections: at its cap, or closing. The message says which. */
export class LiveHubFullError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'LiveHubFullError';
  }
}

export class LiveHub {
  private readonly clients = new Set<Client>();
  private readonly pool: pg.Pool;
  private readonly logger: Logger;
  private readonly status: (() => PipelineStatus) | undefined;
  private readonly intervalMs: number;
  private readonly heartbeatMs: number;
  private readonly maxClients: number;
  private readonly pollTimeoutMs: number;
  private readonly slowClientMs: number;
  private seq = 0;
  private data: PollData | undefined;
  private last: Frame | undefined;
  private dbFailing = false;
  private loop: Promise<void> | undefined;
  private closed = false;
  private wake: (() => void) | undefined;

  constructor(options: LiveHubOptions) {
    this.pool = options.pool;
    this.logger = options.logger;
    this.status = options.status;
    this.intervalMs = options.intervalMs ?? 1000;
    this.heartbeatMs = options.heartbeatMs ?? 15_000;
    this.maxClients = options.maxClients ?? 100;
    this.pollTimeoutMs = options.pollTimeoutMs ?? 5000;
    this.slowClientMs = options.slowClientMs ?? 30_000;
  }

  /**
   * A new browser: its event stream, already holding the newest frame when there is one. The
   * browser leaves when the stream closes: destroy it when the connection closes. Throws
   * LiveHubFullError at the connection cap.
   */
  join(p: { streamId: string | undefined; minutes: number }): PassThrough {
    if (this.closed) throw new LiveHubFullError('the server is shutting down; retry later');
    if (this.clients.size >= this.maxClients) {
      throw new LiveHubFullError(
        `the dashboard already has ${this.maxClients} live connections; retry later`,
      );
    }
    const out = new PassThrough();
    const leader = this.data?.top?.by.donations_usd[0];
    const client: Client = {
      streamId: p.streamId,
      pinned: p.streamId === undefined ? leader : undefined,
      minutes: p.minutes,
      out,
      blockedSince: 0,
    };
    this.clients.add(client);
    out.write(`retry: ${RETRY_MS}\n: rtsa live feed\n\n`);
    if (this.last !== undefined) out.write(this.last.text(client.streamId ?? client.pinned, client.minutes));
    out.once('close', () => this.clients.delete(client));
    this.ensureLoop();
    return out;
  }

  /** Ends every stream and stops polling (on server close: open streams would keep it waiting). */
  async close(): Promise<void> {
    this.closed = true;
    this.wake?.();
    for (const client of this.clients) client.out.end();
    this.clients.clear();
    const loop = this.loop;
    if (loop !== undefined) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([loop, new Promise((resolve) => (timer = setTimeout(resolve, this.pollTimeoutMs)))]);
      clearTimeout(timer);
    }
  }

  private ensureLoop(): void {
    if (this.loop !== undefined || this.closed) return;
    this.loop = this.run().finally(() => {
      this.loop = undefined;
      if (this.clients.size > 0) this.ensureLoop();
    });
  }

  private async run(): Promise<void> {
    const heartbeat = setInterval(() => this.writeAll(() => ': keepalive\n\n'), this.heartbeatMs);
    heartbeat.unref();
    try {
      while (!this.closed && this.clients.size > 0) {
        const started = performance.now();
        await this.tick();
        const wait = this.intervalMs - (performance.now() - started);
        if (wait > 0 && !this.closed) await this.sleep(wait);
      }
    } catch (error) {
      this.logger.error({ err: error }, 'dashboard live feed failed');
    } finally {
      clearInterval(heartbeat);
    }
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.wake = done;
    });
  }

  private async tick(): Promise<void> {
    const pipeline = this.pipelineStatus();
    const poll = this.poll().then(
      (data) => ({ data }),
      (error: unknown) => ({ error }),
    );
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<undefined>((resolve) => {
      timer = setTimeout(() => resolve(undefined), this.pollTimeoutMs);
    });
    let outcome = await Promise.race([poll, timeout]);
    clearTimeout(timer);
    if (outcome === undefined) {
      this.publish(pipeline, { ok: false, detail: `no answer within ${this.pollTimeoutMs} ms` });
      outcome = await poll;
    }
    if (this.closed) return;
    if ('data' in outcome) {
      if (this.dbFailing) this.logger.info('dashboard: database answers again');
      this.dbFailing = false;
      this.data = outcome.data;
      this.publish(pipeline, { ok: true });
    } else {
      if (!this.dbFailing) this.logger.warn({ err: outcome.error }, 'dashboard: database poll failed');
      this.dbFailing = true;
      this.publish(pipeline, { ok: false, detail: describeDbError(outcome.error) });
    }
  }

  private async poll(): Promise<PollData> {
    const overview = await selectOverview(this.pool);
    const anchor = overview.latest;
    const empty = { rows: new Map(), states: new Map(), polled: new Set<string>(), seriesMinutes: 0 };
    if (anchor === null) return { overview, top: null, anchor, ...empty };
    const top = buildTop(
      await selectTopStreamsByEveryRanking(this.pool, { anchor, minutes: TOP_MINUTES, n: TOP_N }),
      anchor,
      TOP_MINUTES,
      TOP_N,
    );
    const leader = top.by.donations_usd[0];
    const ids = new Set<string>();
    let minutes = 0;
    for (const client of this.clients) {
      if (client.streamId === undefined) client.pinned ??= leader;
      const id = client.streamId ?? client.pinned;
      if (id !== undefined) ids.add(id);
      minutes = Math.max(minutes, client.minutes);
    }
    if (ids.size === 0) return { overview, top, anchor, ...empty };
    const streamIds = [...ids];
    const [series, states] = await Promise.all([
      selectSeries(this.pool, { streamIds, anchor, minutes }),
      selectStreamStates(this.pool, streamIds),
    ]);
    const rows = new Map<string, SeriesRow[]>();
    for (const row of series) {
      const list = rows.get(row.stream_id);
      if (list === undefined) rows.set(row.stream_id, [row]);
      else list.push(row);
    }
    return {
      overview,
      top,
      anchor,
      rows,
      states: new Map(states.map((s) => [s.stream_id, s])),
      polled: ids,
      seriesMinutes: minutes,
    };
  }

  private publish(pipeline: PipelineStatus, database: { ok: true } | { ok: false; detail: string }): void {
    this.seq++;
    const health = buildHealth(this.data?.overview, pipeline, database);
    const frame = new Frame(this.seq, new Date(), health, this.data);
    this.last = frame;
    this.writeAll((client) => frame.text(client.streamId ?? client.pinned, client.minutes));
  }

  private writeAll(text: (client: Client) => string): void {
    const now = Date.now();
    for (const client of this.clients) {
      const { out } = client;
      if (!out.writable) continue;
      if (out.writableNeedDrain) {
        if (client.blockedSince === 0) client.blockedSince = now;
        else if (now - client.blockedSince > this.slowClientMs) {
          this.logger.info('dashboard: dropping a live client that does not read');
          out.destroy();
        }
        continue;
      }
      client.blockedSince = 0;
      out.write(text(client));
    }
  }

  private pipelineStatus(): PipelineStatus {
    if (this.status === undefined) {
      return { processor: 'absent', detail: 'no processor in this process; see data freshness' };
    }
    try {
      return this.status();
    } catch (error) {
      this.logger.warn({ err: error }, 'pipeline status failed');
      return { processor: 'unhealthy', detail: 'status unavailable' };
    }
  }
}

/** The error code rather than the message: messages can name hosts and users. */
function describeDbError(error: unknown): string {
  const code = (error as { code?: unknown }).code;
  if (typeof code === 'string' && code !== 'STORE_UNAVAILABLE') return `database error ${code}`;
  return errorMessage(error);
}

/**
 * Keeps a WindowStore equal to stream_metrics_minute (its newest `horizon` of windows), so the window
 * endpoints answer from memory — and never from a state older than the request (issue 14).
 *
 * - Changes: migration 007's triggers announce each statement's span of window_starts on channel
 *   `rtsa_windows` when it commits; the feed reads every minute of the span again and replaces those
 *   minutes whole. Notifications arrive in commit order.
 * - Freshness: `fresh()` resolves once the store reflects every commit that finished before it was
 *   called. It sends a NOTIFY of its own on the listening connection: when that round trip is done,
 *   every notification committed before it has arrived (Postgres queues them in commit order), and
 *   the feed waits until the reads they caused are applied. Requests arriving while one such barrier
 *   is out share the next one, so under load a barrier serves many requests.
 * - Failure: while the listening connection is down, loading, or behind by more than a timeout,
 *   `fresh()` answers undefined and the API reads Postgres (as with the memory turned off); after a
 *   reconnection the store is loaded again from scratch (changes while away were not heard).
 * - The order: the store sorts stream_id by code point, which is Postgres' order only under a C
 *   collation. A database sorting otherwise (en_US, ICU) keeps every read on Postgres, with a log line.
 */
import pg from 'pg';
import type { Logger } from 'pino';
import { queryRaw } from '../../db/json-rows.ts';
import { compareCodePoints, type Minute, MinuteBuilder, StreamStates, WindowStore } from './window-store.ts';

const CHANNEL = 'rtsa_windows';
export const APPLICATION_NAME = 'rtsa window feed';
/** A barrier's payload: this prefix and its number. */
const BARRIER = 'barrier ';
/** How long a request waits for the store to catch up before it reads Postgres instead. */
const FRESH_TIMEOUT_MS = 2_000;
/** The listening session ends on the server after this long without a statement (see connect). */
const IDLE_SESSION_TIMEOUT_MS = 60_000;
/** Minutes read per statement while loading. */
const LOAD_MINUTES = 10;

// A row's columns for MinuteBuilder: µs times, the integers in INT_COLUMNS' order, donations as a double.
const COLUMNS = `(extract(epoch FROM window_start) * 1000000)::int8, stream_id,
  (extract(epoch FROM window_end) * 1000000)::int8, active_viewers, chat_messages, donation_count,
  viewer_joins, viewer_leaves, events, is_final::int, donations_usd::float8,
  (extract(epoch FROM updated_at) * 1000000)::int8, trunc(cum_donations_usd * 1000000)::text,
  cum_chat_messages, cum_windows`;
const SPAN_SQL = `SELECT ${COLUMNS} FROM stream_metrics_minute
WHERE window_start >= timestamptz 'epoch' + $1::int8 * interval '1 microsecond'
  AND window_start <= timestamptz 'epoch' + $2::int8 * interval '1 microsecond'
ORDER BY window_start, stream_id COLLATE "C"`;
// At most this many streams' state is held; past it /state reads Postgres.
const MAX_STATE_ROWS = 100_000;
const STATE_SQL = `SELECT stream_id, active_viewers, (extract(epoch FROM last_event_at) * 1000000)::int8,
  (extract(epoch FROM updated_at) * 1000000)::int8
FROM stream_state ORDER BY stream_id COLLATE "C" LIMIT ${MAX_STATE_ROWS + 1}`;
// The first window_start in [$1, $2] (µs): one probe of the primary key.
const NEXT_SQL = `SELECT (extract(epoch FROM min(window_start)) * 1000000)::int8 FROM stream_metrics_minute
WHERE window_start >= timestamptz 'epoch' + $1::int8 * interval '1 microsecond'
  AND window_start <= timestamptz 'epoch' + $2::int8 * interval '1 microsecond'`;
const BOUNDS_SQL = `SELECT (extract(epoch FROM min(window_start)) * 1000000)::int8,
  (extract(epoch FROM max(window_start)) * 1000000)::int8 FROM stream_metrics_minute`;
// Strings whose order differs between code point order and the usual language collations.
const ORDER_PROBE = ['a', 'B', 'b', '_', '-', 'Z', '1', 'é', 'e', 'stream_10', 'stream-10', 'stream 1'];

export interface WindowFeedOptions {
  pool: pg.Pool;
  logger: Logger;
  /** How far back from the newest window the store holds windows, in ms. */
  horizonMs: number;
  /** Postgres ends the listening session after this long without a statement (default 60 s; see connect). */
  idleSessionTimeoutMs?: number | undefined;
}

type Span = readonly [from: number, to: number];

export class WindowFeed {
  private readonly pool: pg.Pool;
  private readonly logger: Logger;
  private readonly horizonUs: number;
  private readonly idleSessionTimeoutMs: number;
  private store = new WindowStore();
  private client: pg.Client | undefined;
  private ready = false;
  private closed = false;
  /** Spans announced and not yet read again. */
  private dirty: Span[] = [];
  /** Reload everything (a TRUNCATE, or changes missed). */
  private reloadAll = false;
  /** stream_state changed. */
  private stateDirty = false;
  /** Notifications heard, and how many of them the store reflects. */
  private heard = 0;
  private applied = 0;
  /** Bumped whenever the store changes (a load, an applied change): see `version`. */
  private changes = 0;
  private draining: Promise<void> | undefined;
  private waiters: { upTo: number; resolve: () => void }[] = [];
  private barrierOut: Promise<number> | undefined;
  private barriersSent = 0;
  private barrierSeen = 0;
  private warnedBarrier = false;
  private barrierNext: Promise<number> | undefined;
  private retry: NodeJS.Timeout | undefined;
  private retryMs = 500;
  /**
   * Barriers that timed out (the store is behind the commits) and have not come back: meanwhile
   * `version` is undefined, so the response cache cannot keep serving an answer made before a
   * commit the store has not applied (it falls back to its TTL alone).
   */
  private lagging = 0;
  private settleFirst: (served: boolean) => void = () => {};
  private readonly firstAttempt = new Promise<boolean>((resolve) => {
    this.settleFirst = resolve;
  });

  constructor(options: WindowFeedOptions) {
    this.pool = options.pool;
    this.logger = options.logger;
    this.horizonUs = options.horizonMs * 1000;
    this.idleSessionTimeoutMs = options.idleSessionTimeoutMs ?? IDLE_SESSION_TIMEOUT_MS;
  }

  /** Connects and loads in the background; reads go to Postgres until the store is loaded. */
  start(): void {
    void this.connect();
  }

  /** Waits for the first attempt to load: true once the store serves, false when that attempt failed. */
  started(): Promise<boolean> {
    return this.firstAttempt;
  }

  /**
   * Which state of the windows memory holds: it changes with every load and every change applied;
   * undefined while not serving. Equal versions answer every query the same (the response cache
   * keys on it).
   */
  get version(): number | undefined {
    return this.ready && this.lagging === 0 ? this.changes : undefined;
  }

  /** Windows held in memory (0 while not serving). */
  get size(): number {
    return this.ready ? this.store.size : 0;
  }

  /**
   * The store, once it reflects every change committed before this call; undefined when it cannot
   * (not loaded, connection down, too far behind): read Postgres then.
   */
  async fresh(): Promise<WindowStore | undefined> {
    if (!this.ready) return undefined;
    let timer: NodeJS.Timeout | undefined;
    try {
      const caughtUp = this.barrier().then((heard) => this.appliedThrough(heard));
      const timeout = new Promise<false>((resolve) => {
        timer = setTimeout(() => resolve(false), FRESH_TIMEOUT_MS);
      });
      const ok = await Promise.race([caughtUp.then(() => true), timeout]);
      if (!ok) {
        this.lagging++;
        caughtUp.then(
          () => this.lagging--,
          () => this.lagging--,
        );
      }
      return ok && this.ready ? this.store : undefined;
    } catch {
      return undefined;
    } finally {
      clearTimeout(timer);
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    this.settleFirst(false);
    this.ready = false;
    clearTimeout(this.retry);
    for (const w of this.waiters.splice(0)) w.resolve();
    const client = this.client;
    this.client = undefined;
    await client?.end().catch(() => {});
    await this.draining?.catch(() => {});
  }

  // ---- connection ---------------------------------------------------------------------------------

  private async connect(): Promise<void> {
    if (this.closed) return;
    // Named, so pg_stat_activity tells operators (and tests) which session is the listener.
    const client = new pg.Client({ ...this.pool.options, application_name: APPLICATION_NAME });
    this.client = client;
    client.on('error', (error) => this.lost(client, error));
    client.on('end', () => this.lost(client, new Error('connection ended')));
    client.on('notification', (n) => {
      if (n.channel !== CHANNEL) return;
      if (n.payload?.startsWith(BARRIER)) this.barrierSeen = Number(n.payload.slice(BARRIER.length));
      else this.heardChange(n.payload ?? '*');
    });
    try {
      await client.connect();
      // The barrier's commit need not wait for the disk: it carries nothing.
      await client.query('SET synchronous_commit = off');
      // A listener that stops reading (a frozen process) holds Postgres' notification queue, and a
      // full queue fails every writer's commit: Postgres ends this session once it has been idle
      // for a minute (Postgres 14 on), and a live feed speaks every 20 s.
      await client.query(`SET idle_session_timeout = '${this.idleSessionTimeoutMs}ms'`).catch(() => {});
      const keepalive = setInterval(() => {
        if (this.client === client) void client.query('SELECT 1').catch(() => {});
        else clearInterval(keepalive);
      }, this.idleSessionTimeoutMs / 3);
      keepalive.unref();
      if (!(await this.codePointOrder(client))) {
        this.logger.warn(
          'the API reads windows from Postgres on every request: this database does not sort text by code point (C collation), which the in-memory windows need',
        );
        this.closed = true;
        this.client = undefined;
        await client.end();
        this.settleFirst(false);
        return;
      }
      await client.query(`LISTEN ${CHANNEL}`);
      await this.load();
      this.retryMs = 500;
      this.drain();
      this.settleFirst(true);
    } catch (error) {
      this.lost(client, error);
      this.settleFirst(false);
    }
  }

  private async codePointOrder(client: pg.Client): Promise<boolean> {
    const { rows } = await client.query<{ sorted: string[] }>(
      'SELECT array_agg(s ORDER BY s) AS sorted FROM unnest($1::text[]) s',
      [ORDER_PROBE],
    );
    const expected = [...ORDER_PROBE].sort(compareCodePoints);
    return JSON.stringify(rows[0]?.sorted) === JSON.stringify(expected);
  }

  private lost(client: pg.Client, error: unknown): void {
    if (this.client !== client) return;
    this.client = undefined;
    this.ready = false;
    for (const w of this.waiters.splice(0)) w.resolve();
    void client.end().catch(() => {});
    if (this.closed) return;
    this.logger.warn(
      { err: error },
      `in-memory windows: lost the connection to Postgres; reading windows from Postgres until it is back (retry in ${this.retryMs} ms)`,
    );
    this.retry = setTimeout(() => void this.connect(), this.retryMs);
    this.retryMs = Math.min(this.retryMs * 2, 30_000);
  }

  // ---- loading and changes ------------------------------------------------------------------------

  /** Reads the newest `horizon` of windows into a new store, then the changes heard meanwhile. */
  private async load(): Promise<void> {
    const began = performance.now();
    this.dirty = [];
    this.reloadAll = false;
    this.stateDirty = false;
    const store = new WindowStore();
    store.state = await this.readState();
    const [bounds] = await queryRaw(this.pool, BOUNDS_SQL, [], 'read the span of the windows');
    const first = bounds?.[0] == null ? undefined : Number(bounds[0]);
    const last = bounds?.[1] == null ? undefined : Number(bounds[1]);
    if (first !== undefined && last !== undefined) {
      const floor = last - this.horizonUs;
      const from = first > floor ? first : floor + 1;
      if (first <= floor) store.completeAfter = floor;
      for (const [lo, hi, minutes] of await this.readRange(from, last)) store.replace(lo, hi, minutes);
    }
    this.store = store;
    this.changes++;
    this.ready = true;
    this.logger.info(
      { windows: store.size, ms: Math.round(performance.now() - began) },
      'in-memory windows loaded: the window endpoints answer from memory',
    );
  }

  /**
   * Every window with window_start in [from, to], as spans that together cover it (a span with no
   * minutes says there is none there): LOAD_MINUTES of windows a statement, from one window_start
   * to the next, so time without windows costs nothing (one statement may touch windows years
   * apart: a late event and a current one).
   */
  private async readRange(from: number, to: number): Promise<[number, number, Minute[]][]> {
    const out: [number, number, Minute[]][] = [];
    const step = LOAD_MINUTES * 60_000_000;
    let lo = from;
    while (lo <= to) {
      const [row] = await queryRaw(this.pool, NEXT_SQL, [lo, to], 'find windows to read into memory');
      if (row?.[0] == null) {
        out.push([lo, to, []]);
        break;
      }
      const hi = Math.min(Number(row[0]) + step - 1, to);
      out.push([lo, hi, await this.readSpan(lo, hi)]);
      lo = hi + 1;
    }
    return out;
  }

  /** readRange of each span, from the horizon on (older windows are not held). */
  private async readSpans(spans: readonly Span[]): Promise<[number, number, Minute[]][]> {
    const reads: [number, number, Minute[]][] = [];
    for (const [from, to] of spans) {
      const lo = Math.max(from, this.store.completeAfter + 1);
      if (lo <= to) reads.push(...(await this.readRange(lo, to)));
    }
    return reads;
  }

  private async readSpan(from: number, to: number) {
    const rows = await queryRaw(this.pool, SPAN_SQL, [from, to], 'read windows into memory');
    const builder = new MinuteBuilder();
    const ints = [0, 0, 0, 0, 0, 0, 0];
    const streams = new Map<string, string>();
    for (const r of rows) {
      for (let k = 0; k < 7; k++) ints[k] = Number(r[3 + k]);
      const id = r[1] as string;
      let stream = streams.get(id);
      if (stream === undefined) {
        stream = id;
        streams.set(id, id);
      }
      builder.add(Number(r[0]), stream, Number(r[2]), ints, Number(r[10]), Number(r[11]), [
        Number(r[12]),
        Number(r[13]),
        Number(r[14]),
      ]);
    }
    return builder.finish();
  }

  private async readState(): Promise<StreamStates | undefined> {
    const rows = await queryRaw(this.pool, STATE_SQL, [], 'read stream state into memory');
    if (rows.length > MAX_STATE_ROWS) return undefined;
    return new StreamStates(
      rows.map((r) => ({
        stream: r[0] as string,
        viewers: Number(r[1]),
        lastEventAt: Number(r[2]),
        updatedAt: Number(r[3]),
      })),
    );
  }

  private heardChange(payload: string): void {
    this.heard++;
    if (payload === 'state') {
      this.stateDirty = true;
      if (this.ready) this.drain();
      return;
    }
    const comma = payload.indexOf(',');
    const from = Number(payload.slice(0, comma));
    const to = Number(payload.slice(comma + 1));
    if (comma < 0 || !Number.isFinite(from) || !Number.isFinite(to)) this.reloadAll = true;
    else this.dirty.push([from, to]);
    if (this.ready) this.drain();
  }

  /** Reads the announced spans again, one at a time, until none is left. */
  private drain(): void {
    if (this.draining !== undefined) return;
    let done = false;
    let run: Promise<void> | undefined;
    run = (async () => {
      try {
        // A commit's notifications (its windows, stream_state) arrive together: one pass takes them all.
        await new Promise<void>((resolve) => setImmediate(resolve));
        while (
          this.ready &&
          (this.dirty.length > 0 || this.reloadAll || this.stateDirty || this.applied < this.heard)
        ) {
          const heard = this.heard;
          if (this.reloadAll) {
            this.ready = false;
            await this.load();
            continue;
          }
          // Everything read first, then applied at once: no request sees half of a change.
          const stateChanged = this.stateDirty;
          this.stateDirty = false;
          // The state and the windows on two connections at once.
          const [state, reads] = await Promise.all([
            stateChanged ? this.readState() : undefined,
            this.readSpans(merge(this.dirty.splice(0))),
          ]);
          if (stateChanged) this.store.state = state;
          for (const [lo, hi, minutes] of reads) this.store.replace(lo, hi, minutes);
          const newest = this.store.newest;
          if (newest !== undefined && newest - this.horizonUs > this.store.completeAfter) {
            this.store.evictThrough(newest - this.horizonUs);
          }
          if (stateChanged || reads.length > 0) this.changes++;
          this.applied = heard;
          this.settle();
        }
      } catch (error) {
        const client = this.client;
        if (client !== undefined) this.lost(client, error);
      } finally {
        done = true;
        if (this.draining === run) this.draining = undefined;
      }
    })();
    // A run with nothing to do has finished already: only a run still going is remembered.
    if (!done) this.draining = run;
  }

  private settle(): void {
    this.waiters = this.waiters.filter((w) => {
      if (w.upTo > this.applied) return true;
      w.resolve();
      return false;
    });
  }

  private appliedThrough(heard: number): Promise<void> {
    if (this.applied >= heard) return Promise.resolve();
    return new Promise((resolve) => {
      this.waiters.push({ upTo: heard, resolve });
      this.drain();
    });
  }

  // ---- barriers -----------------------------------------------------------------------------------

  /** How many notifications had been heard once one barrier sent after this call came back. */
  private barrier(): Promise<number> {
    if (this.barrierOut === undefined) {
      this.barrierOut = this.sendBarrier().finally(() => {
        this.barrierOut = undefined;
      });
      return this.barrierOut;
    }
    // One is out already, sent before this call: wait for it, then share the next one.
    this.barrierNext ??= this.barrierOut
      .catch(() => 0)
      .then(() => {
        this.barrierNext = undefined;
        return this.barrier();
      });
    return this.barrierNext;
  }

  /**
   * Postgres delivers a session's own notification before the statement's end, after every one
   * queued before it: the barrier is sound only if its own came back. Through a pooler that hands
   * statements to other sessions (PgBouncer in transaction mode) it does not, and the store could
   * never be known current: such a barrier fails, and requests read Postgres.
   */
  private async sendBarrier(): Promise<number> {
    const client = this.client;
    if (client === undefined) throw new Error('not connected');
    const n = ++this.barriersSent;
    await client.query(`NOTIFY ${CHANNEL}, '${BARRIER}${n}'`);
    if (this.barrierSeen < n) {
      if (!this.warnedBarrier) {
        this.warnedBarrier = true;
        this.logger.warn(
          'the API reads windows from Postgres: its own notifications do not come back on its listening connection (a connection pooler in transaction mode?); connect it to Postgres directly for the in-memory windows',
        );
      }
      throw new Error('the barrier notification did not come back');
    }
    return this.heard;
  }
}

/** Overlapping or touching spans as one. */
function merge(spans: Span[]): Span[] {
  spans.sort((a, b) => a[0] - b[0]);
  const out: [number, number][] = [];
  for (const [from, to] of spans) {
    const last = out[out.length - 1];
    if (last !== undefined && from <= last[1] + 1) last[1] = Math.max(last[1], to);
    else out.push([from, to]);
  }
  return out;
}

/**
 * The windows of stream_metrics_minute (and stream_state) held in memory, for the read endpoints
 * (/metrics, /metrics/history, /metrics/latest, /streams/top, /state) without a Postgres round trip
 * per request (issue 14). Each
 * query here answers exactly what its statement in metrics-queries.ts answers — the same rows, the
 * same order, the same anchor — or `undefined` when the rows it needs are not all held (a range
 * reaching below the horizon, a stream whose windows are all older than it): the caller then runs
 * the statement. window-feed.ts fills it from Postgres and keeps it current.
 *
 * Layout: a minute (one window_start) is a set of columns sorted by stream_id, replaced whole when
 * any of its rows changes; each stream keeps its window_starts ascending, with the minute and row of
 * each (~120 bytes a window in all). The newest hour keeps each row's JSON once written. Times are
 * µs since the epoch, as Postgres keeps them; the API writes milliseconds.
 * stream_id order is code point order, which is Postgres' order under the C collations (the feed
 * checks the database's before it serves from here).
 */
import type { MetricsResult, RangeAfter, RangeParams, StateResult, TopResult } from './metrics-queries.ts';
import type { TopBy, TopRow } from './rows.ts';

/** The windows of one window_start, by stream_id (code point order). */
export interface Minute {
  /** window_start, µs since the epoch. */
  readonly start: number;
  /** window_start and start + 1 minute (every window_end but a hand-written one) as the API writes them. */
  readonly startIso: string;
  readonly endIso: string;
  /** No stream_id here has a character from U+D800 on: JavaScript's `<` is code point order for them. */
  readonly simple: boolean;
  readonly streams: readonly string[];
  /** window_end, µs. */
  readonly ends: Float64Array;
  /** INT_COLUMNS per row, in that order. */
  readonly ints: Int32Array;
  readonly donations: Float64Array;
  /** updated_at, µs. */
  readonly updated: Float64Array;
  /**
   * The running totals (migration 006) per row: cum_donations_usd in µ$ (NaN past 2^53 µ$, where a
   * double is no longer exact), cum_chat_messages, cum_windows.
   */
  readonly cums: Float64Array;
  /** Rows already written as JSON, kept while the minute is among the newest (RENDERED_MINUTES). */
  json?: (string | undefined)[] | undefined;
  /** The start of each row's JSON up to stream_id's value, once written (rowHead). */
  head?: string | undefined;
}

/**
 * The newest minutes keep each row's JSON once written: most pages read them (dashboards, the last
 * hour), and a minute that changes is replaced whole, so nothing kept goes stale. Older minutes
 * write their rows per request. At most this many minutes, and not past ROWS_PER_RENDERED_MINUTE.
 */
const RENDERED_MINUTES = 60;
const ROWS_PER_RENDERED_MINUTE = 5_000;

/** The integer columns of a row in Minute.ints, in the order of the API's JSON. */
export const INT_COLUMNS = [
  'active_viewers',
  'chat_messages',
  'donation_count',
  'viewer_joins',
  'viewer_leaves',
  'events',
  'is_final',
] as const;
const INTS = INT_COLUMNS.length;

/**
 * Builds Minutes from rows sorted by (window_start, stream_id in code point order). Rows go into
 * columns reused from one minute to the next; a minute keeps an exact-size copy (no garbage per
 * row: loading a day of 1,000 streams would otherwise grow the heap by several times the store).
 */
export class MinuteBuilder {
  private start = Number.NaN;
  private count = 0;
  private streams: string[] = [];
  private ends = new Float64Array(1024);
  private ints = new Int32Array(1024 * INTS);
  private donations = new Float64Array(1024);
  private updated = new Float64Array(1024);
  private cums = new Float64Array(1024 * 3);
  readonly done: Minute[] = [];

  add(
    start: number,
    stream: string,
    end: number,
    ints: readonly number[],
    donations: number,
    updated: number,
    cums: readonly [donationsMicros: number, chat: number, windows: number],
  ): void {
    if (start !== this.start) this.flush(start);
    const i = this.count++;
    if (i === this.ends.length) this.grow();
    this.streams.push(stream);
    this.ends[i] = end;
    for (let k = 0; k < INTS; k++) this.ints[i * INTS + k] = ints[k] as number;
    this.donations[i] = donations;
    this.updated[i] = updated;
    this.cums[i * 3] = Number.isSafeInteger(cums[0]) ? cums[0] : Number.NaN;
    this.cums[i * 3 + 1] = cums[1];
    this.cums[i * 3 + 2] = cums[2];
  }

  /** The minutes added so far; the builder starts over. */
  finish(): Minute[] {
    this.flush(Number.NaN);
    return this.done.splice(0);
  }

  private grow(): void {
    const n = this.ends.length * 2;
    const bigger = <T extends Float64Array | Int32Array>(a: T, width: number): T => {
      const b = new (a.constructor as new (n: number) => T)(n * width);
      b.set(a);
      return b;
    };
    this.ends = bigger(this.ends, 1);
    this.ints = bigger(this.ints, INTS);
    this.donations = bigger(this.donations, 1);
    this.updated = bigger(this.updated, 1);
    this.cums = bigger(this.cums, 3);
  }

  private flush(next: number): void {
    const n = this.count;
    if (n > 0) {
      this.done.push({
        start: this.start,
        startIso: isoOfMicros(this.start),
        endIso: isoOfMicros(this.start + MICROS_PER_MINUTE),
        simple: !this.streams.some((id) => HIGH.test(id)),
        streams: this.streams,
        ends: this.ends.slice(0, n),
        ints: this.ints.slice(0, n * INTS),
        donations: this.donations.slice(0, n),
        updated: this.updated.slice(0, n),
        cums: this.cums.slice(0, n * 3),
      });
    }
    this.start = next;
    this.count = 0;
    this.streams = [];
  }
}

/** Compares two strings by code point, as Postgres compares text under a C collation. */
export function compareCodePoints(a: string, b: string): number {
  if (a === b) return 0;
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    let x = a.charCodeAt(i);
    let y = b.charCodeAt(i);
    if (x === y) continue;
    // A surrogate (0xD800-0xDFFF) starts a code point above 0xFFFF: it sorts after 0xE000-0xFFFF.
    if (x >= 0xd800 && x <= 0xdfff) x += 0x2800;
    if (y >= 0xd800 && y <= 0xdfff) y += 0x2800;
    return x - y;
  }
  return a.length - b.length;
}

/** A character from which code unit order (JavaScript's `<`) and code point order may differ. */
const HIGH = /[\uD800-\uFFFF]/;

/** The first index of `streams` whose stream_id is > `after` (or >= when `inclusive`). */
function firstAfter(streams: readonly string[], after: string, inclusive = false): number {
  // Against a string without such characters, `<` is code point order (every unit that can differ
  // from it is above all of its units in both orders): the native comparison, no loop.
  const native = !HIGH.test(after);
  let lo = 0;
  let hi = streams.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    const s = streams[mid] as string;
    const c = native ? (s < after ? -1 : s === after ? 0 : 1) : compareCodePoints(s, after);
    if (c > 0 || (inclusive && c === 0)) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

/** The first index of an ascending number array whose value is > `v` (or >= when `inclusive`). */
function upperBound(values: readonly number[], v: number, inclusive = false): number {
  let lo = 0;
  let hi = values.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    const x = values[mid] as number;
    if (x > v || (inclusive && x === v)) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

const MICROS_PER_MINUTE = 60_000_000;

/** One stream's windows: their window_starts ascending, the Minute of each, and its row there. */
interface StreamRows {
  readonly id: string;
  readonly starts: number[];
  readonly minutes: Minute[];
  readonly rows: number[];
  /** Where it is in WindowStore.streamList. */
  position: number;
}

// The last few times written: the windows of one commit share updated_at, a minute's share window_end.
const ISO_CACHE = 64;
const isoKeys = new Float64Array(ISO_CACHE).fill(Number.NaN);
const isoValues: string[] = new Array(ISO_CACHE).fill('');

/** µs since the epoch as the API writes a time (milliseconds, `Z`; cut, not rounded). */
export function isoOfMicros(us: number): string {
  const ms = Math.floor(us / 1000);
  const slot = ms & (ISO_CACHE - 1);
  if (isoKeys[slot] === ms) return isoValues[slot] as string;
  const iso = isoOfMillis(ms);
  isoKeys[slot] = ms;
  isoValues[slot] = iso;
  return iso;
}

const MS_PER_DAY = 86_400_000;
let dayOf = Number.NaN;
let dayText = '';
const pad2 = (n: number) => (n < 10 ? `0${n}` : `${n}`);
const pad3 = (n: number) => (n < 10 ? `00${n}` : n < 100 ? `0${n}` : `${n}`);

/** Date#toISOString of `ms`, without a Date for each time of a day already written. */
export function isoOfMillis(ms: number): string {
  // Years 0000-9999 only (others are written with a sign and six digits: leave them to Date).
  if (!(ms >= -62_167_219_200_000 && ms < 253_402_300_800_000)) return new Date(ms).toISOString();
  const day = Math.floor(ms / MS_PER_DAY);
  if (day !== dayOf) {
    dayOf = day;
    dayText = new Date(day * MS_PER_DAY).toISOString().slice(0, 11);
  }
  let t = ms - day * MS_PER_DAY;
  const milli = t % 1000;
  t = (t - milli) / 1000;
  const second = t % 60;
  t = (t - second) / 60;
  const minute = t % 60;
  return `${dayText}${pad2((t - minute) / 60)}:${pad2(minute)}:${pad2(second)}.${pad3(milli)}Z`;
}

/** An ISO time (as the API wrote it) in µs. */
function microsOfIso(iso: string): number {
  return Date.parse(iso) * 1000;
}

const quoted = new Map<string, string>();
function quote(s: string): string {
  let q = quoted.get(s);
  if (q === undefined) {
    q = JSON.stringify(s);
    if (quoted.size < 100_000) quoted.set(s, q);
  }
  return q;
}

/** Row `i` of `m` as MetricsRow JSON (the keys and order of metrics-queries.ts' METRIC_JSON). */
function rowJson(m: Minute, i: number): string {
  const kept = m.json;
  if (kept === undefined) return writeRow(m, i);
  let json = kept[i];
  if (json === undefined) {
    json = flat(writeRow(m, i));
    kept[i] = json;
  }
  return json;
}

/**
 * `s` as one flat string. Written from many parts, a string is a tree of them that every later join
 * walks again (40 µs to join a page of 55 kept rows instead of 5); converting it to a number makes
 * V8 flatten it in place.
 */
let _flattenSink = 0;
function flat(s: string): string {
  _flattenSink += Number(s);
  return s;
}

/** The text every row of `m` with the usual window_end starts with, written once (flat) per minute. */
function rowHead(m: Minute): string {
  let head = m.head;
  if (head === undefined) {
    head = flat(`{"window_start":"${m.startIso}","window_end":"${m.endIso}","stream_id":`);
    m.head = head;
  }
  return head;
}

function writeRow(m: Minute, i: number): string {
  const o = i * INTS;
  const ints = m.ints;
  const end = m.ends[i] as number;
  return (
    (end === m.start + MICROS_PER_MINUTE
      ? rowHead(m)
      : `{"window_start":"${m.startIso}","window_end":"${isoOfMicros(end)}","stream_id":`) +
    `${quote(m.streams[i] as string)},"active_viewers":${ints[o]},"chat_messages":${ints[o + 1]},` +
    `"donations_usd":${m.donations[i]},"donation_count":${ints[o + 2]},"viewer_joins":${ints[o + 3]},` +
    `"viewer_leaves":${ints[o + 4]},"events":${ints[o + 5]},"is_final":${ints[o + 6] !== 0},` +
    `"updated_at":"${isoOfMicros(m.updated[i] as number)}"}`
  );
}

/** Collects a page: `skip` rows passed over, then up to `take` rows. */
class Page {
  readonly rows: string[] = [];
  /** Where each row came from, for its key. */
  private readonly minutes: Minute[] = [];
  private readonly indexes: number[] = [];
  private skip: number;
  private readonly take: number;

  constructor(offset: number, limit: number) {
    this.skip = offset;
    this.take = limit;
  }

  get full(): boolean {
    return this.rows.length >= this.take;
  }

  /** Rows [from, to) of `m` in ascending stream order. */
  addRun(m: Minute, from: number, to: number): void {
    if (this.skip >= to - from) {
      this.skip -= to - from;
      return;
    }
    const first = from + this.skip;
    this.skip = 0;
    for (let i = first; i < to && !this.full; i++) {
      this.rows.push(rowJson(m, i));
      this.minutes.push(m);
      this.indexes.push(i);
    }
  }

  result(latest: string | null): MetricsResult {
    const { minutes, indexes } = this;
    return {
      latest,
      rows: this.rows,
      keyOf: (i) => {
        const m = minutes[i];
        return m === undefined
          ? undefined
          : { windowStart: m.startIso, streamId: m.streams[indexes[i] as number] as string };
      },
    };
  }
}

const EMPTY: MetricsResult = { latest: null, rows: [], keyOf: () => undefined };

export class WindowStore {
  /** stream_state, when held (not past the feed's bound on streams). */
  state: StreamStates | undefined;
  /** Every window with window_start > this is held (-Infinity: every window of the table). */
  completeAfter = -Infinity;
  /** The window_starts held, ascending. */
  private readonly starts: number[] = [];
  private readonly minutes = new Map<number, Minute>();
  /** Each stream's windows, by stream_id; and the same records in an array, for passes over all. */
  private readonly streams = new Map<string, StreamRows>();
  private readonly streamList: StreamRows[] = [];
  private behindCache: StreamRows[] | undefined;
  private rowCount = 0;

  /** Windows held. */
  get size(): number {
    return this.rowCount;
  }

  /** The newest window_start held (µs), if any. */
  get newest(): number | undefined {
    return this.starts[this.starts.length - 1];
  }

  /**
   * Makes the windows with window_start in [from, to] exactly `minutes` (each of which must lie in
   * that span): minutes not among them are dropped, the others replaced whole.
   */
  replace(from: number, to: number, minutes: readonly Minute[]): void {
    const lo = upperBound(this.starts, from, true);
    const hi = upperBound(this.starts, to);
    const incoming = new Map(minutes.map((m) => [m.start, m]));
    for (const start of this.starts.slice(lo, hi)) {
      if (!incoming.has(start)) this.drop(start);
    }
    for (const m of minutes) {
      if (m.start < from || m.start > to) throw new Error(`minute ${m.start} outside [${from}, ${to}]`);
      this.put(m);
    }
  }

  /** Forgets every window with window_start <= `start`; the store is then complete after it. */
  evictThrough(start: number): void {
    while (this.starts.length > 0 && (this.starts[0] as number) <= start) this.drop(this.starts[0] as number);
    if (start > this.completeAfter) this.completeAfter = start;
  }

  /** The streams without a window in the newest minute (recomputed once after each change). */
  private behind(): StreamRows[] {
    if (this.behindCache === undefined) {
      const newest = this.newest;
      this.behindCache = this.streamList.filter((r) => r.starts[r.starts.length - 1] !== newest);
    }
    return this.behindCache;
  }

  private put(m: Minute): void {
    this.behindCache = undefined;
    const newestBefore = this.newest;
    const old = this.minutes.get(m.start);
    this.minutes.set(m.start, m);
    this.rowCount += m.streams.length - (old?.streams.length ?? 0);
    if (old === undefined) this.starts.splice(upperBound(this.starts, m.start), 0, m.start);
    // Streams that appear in this minute or leave it (both lists sorted: one merge).
    const before = old?.streams ?? [];
    let i = 0;
    let j = 0;
    while (i < before.length || j < m.streams.length) {
      const c =
        i >= before.length
          ? 1
          : j >= m.streams.length
            ? -1
            : compareCodePoints(before[i] as string, m.streams[j] as string);
      if (c === 0) {
        this.relink(m.streams[j] as string, m, j);
        i++;
        j++;
      } else if (c < 0) {
        this.unlink(before[i++] as string, m.start);
      } else {
        this.link(m.streams[j] as string, m, j);
        j++;
      }
    }
    this.keepJson(m, newestBefore);
  }

  /** Gives `m` a place for its rows' JSON if it is among the newest minutes; takes it from those no longer. */
  private keepJson(m: Minute, newestBefore: number | undefined): void {
    const newest = this.newest as number;
    const from = newest - RENDERED_MINUTES * MICROS_PER_MINUTE;
    if (m.start > from && m.streams.length <= ROWS_PER_RENDERED_MINUTE) m.json = new Array(m.streams.length);
    if (newestBefore !== undefined && newest > newestBefore) {
      const was = newestBefore - RENDERED_MINUTES * MICROS_PER_MINUTE;
      for (
        let k = upperBound(this.starts, was);
        k < this.starts.length && (this.starts[k] as number) <= from;
        k++
      ) {
        const old = this.minutes.get(this.starts[k] as number);
        if (old !== undefined) old.json = undefined;
      }
    }
  }

  private drop(start: number): void {
    const m = this.minutes.get(start);
    if (m === undefined) return;
    this.behindCache = undefined;
    this.minutes.delete(start);
    this.rowCount -= m.streams.length;
    this.starts.splice(upperBound(this.starts, start, true), 1);
    for (const s of m.streams) this.unlink(s, start);
  }

  /** The stream has a window in minute `m`, at row `row`, and had none there before. */
  private link(stream: string, m: Minute, row: number): void {
    let r = this.streams.get(stream);
    if (r === undefined) {
      r = { id: stream, starts: [], minutes: [], rows: [], position: this.streamList.length };
      this.streams.set(stream, r);
      this.streamList.push(r);
    }
    const { starts } = r;
    if (starts.length === 0 || (starts[starts.length - 1] as number) < m.start) {
      starts.push(m.start);
      r.minutes.push(m);
      r.rows.push(row);
    } else {
      const at = upperBound(starts, m.start);
      starts.splice(at, 0, m.start);
      r.minutes.splice(at, 0, m);
      r.rows.splice(at, 0, row);
    }
  }

  /** The stream keeps its window in this minute, whose rows were replaced (now at row `row`). */
  private relink(stream: string, m: Minute, row: number): void {
    const r = this.streams.get(stream);
    if (r === undefined) return;
    const { starts } = r;
    const at = starts[starts.length - 1] === m.start ? starts.length - 1 : upperBound(starts, m.start, true);
    if (starts[at] === m.start) {
      r.minutes[at] = m;
      r.rows[at] = row;
    }
  }

  private unlink(stream: string, start: number): void {
    const r = this.streams.get(stream);
    if (r === undefined) return;
    const at = upperBound(r.starts, start, true);
    if (r.starts[at] === start) {
      r.starts.splice(at, 1);
      r.minutes.splice(at, 1);
      r.rows.splice(at, 1);
    }
    if (r.starts.length === 0) {
      this.streams.delete(stream);
      // Swap the last record into its place.
      const moved = this.streamList.pop() as StreamRows;
      if (moved !== r) {
        this.streamList[r.position] = moved;
        moved.position = r.position;
      }
    }
  }

  /** A stream's windows, or null when it has none at all; undefined when that is not known. */
  private streamOf(stream: string): StreamRows | null | undefined {
    const r = this.streams.get(stream);
    if (r !== undefined) return r;
    return this.completeAfter === -Infinity ? null : undefined;
  }

  /**
   * One stream's windows at positions [from, to) of its list, oldest or newest first, `offset` of
   * them skipped: each entry is one row, so the offset is an index and nothing is read for it.
   */
  private addStream(
    page: Page,
    r: StreamRows,
    from: number,
    to: number,
    desc: boolean,
    offset: number,
  ): void {
    const { minutes, rows } = r;
    const n = to - from - offset;
    for (let k = 0; k < n && !page.full; k++) {
      const at = desc ? to - 1 - offset - k : from + offset + k;
      const i = rows[at] as number;
      page.addRun(minutes[at] as Minute, i, i + 1);
    }
  }

  /** selectMetricsRange: windows in (anchor - minutes, anchor], newest or oldest first, then by stream. */
  range(p: RangeParams): MetricsResult | undefined {
    if (p.streamId !== undefined) {
      const r = this.streamOf(p.streamId);
      if (r === undefined) return undefined;
      if (r === null) return EMPTY;
      const list = r.starts;
      const anchor = list[list.length - 1] as number;
      const lo = anchor - p.minutes * MICROS_PER_MINUTE;
      if (lo < this.completeAfter) return undefined;
      const page = new Page(0, p.limit);
      this.addStream(page, r, upperBound(list, lo), list.length, p.order === 'DESC', p.offset);
      return page.result(isoOfMicros(anchor));
    }
    const page = new Page(p.offset, p.limit);
    const anchor = this.newest;
    if (anchor === undefined) return this.completeAfter === -Infinity ? EMPTY : undefined;
    const lo = anchor - p.minutes * MICROS_PER_MINUTE;
    if (lo < this.completeAfter) return undefined;
    this.addMinutes(page, upperBound(this.starts, lo), this.starts.length, p.order === 'DESC');
    return page.result(isoOfMicros(anchor));
  }

  /** Minutes `starts[from..to)`, all their streams, newest or oldest minute first. */
  private addMinutes(page: Page, from: number, to: number, desc: boolean): void {
    for (let k = 0; k < to - from && !page.full; k++) {
      const m = this.minutes.get(
        (desc ? this.starts[to - 1 - k] : this.starts[from + k]) as number,
      ) as Minute;
      page.addRun(m, 0, m.streams.length);
    }
  }

  /** selectMetricsAfter: the page of a range right after a row (keyset), `offset` rows further. */
  after(p: RangeParams & { after: RangeAfter }): MetricsResult | undefined {
    const anchor = microsOfIso(p.after.latest);
    const at = microsOfIso(p.after.windowStart);
    const lo = anchor - p.minutes * MICROS_PER_MINUTE;
    if (lo < this.completeAfter) return undefined;
    const latest = p.after.latest;
    const desc = p.order === 'DESC';
    if (p.streamId !== undefined) {
      const r = this.streamOf(p.streamId);
      if (r === undefined) return undefined;
      if (r === null) return { ...EMPTY, latest };
      const list = r.starts;
      // (lo, anchor] and before (DESC) or after (ASC) the cursor's window_start.
      const from = desc ? upperBound(list, lo) : upperBound(list, Math.max(lo, at));
      const to = desc
        ? Math.min(upperBound(list, anchor), upperBound(list, at, true))
        : upperBound(list, anchor);
      const page = new Page(0, p.limit);
      this.addStream(page, r, from, Math.max(from, to), desc, p.offset);
      return page.result(latest);
    }
    const page = new Page(p.offset, p.limit);
    const from = upperBound(this.starts, lo);
    const to = upperBound(this.starts, anchor);
    // The rest of the cursor's minute (streams after the cursor's), when that minute is in range.
    const rest = () => {
      if (!(at > lo && at <= anchor)) return;
      const m = this.minutes.get(at);
      if (m !== undefined) page.addRun(m, firstAfter(m.streams, p.after.streamId), m.streams.length);
    };
    if (desc) {
      rest();
      this.addMinutes(page, from, Math.max(from, Math.min(to, upperBound(this.starts, at, true))), true);
    } else {
      rest();
      this.addMinutes(page, Math.max(from, upperBound(this.starts, at)), to, false);
    }
    return page.result(latest);
  }

  /**
   * selectTopStreams: for each stream with a window in (anchor - minutes, anchor], its sums over the
   * range (its newest running totals minus those of its last window at or before the range start)
   * and its newest window's viewers; by `by` descending, then stream_id. Undefined when a total is
   * not exact as a double, or a stream's last window before the range is older than the store holds.
   */
  top(p: { minutes: number; by: TopBy; n: number }): TopResult | undefined {
    const anchor = this.newest;
    if (anchor === undefined)
      return this.completeAfter === -Infinity ? { latest: null, rows: [] } : undefined;
    const lo = anchor - p.minutes * MICROS_PER_MINUTE;
    if (lo < this.completeAfter) return undefined;
    // Per stream: its sums and viewers, in columns; rows are made for the `n` ranked first only.
    const names: string[] = [];
    const values = {
      donations_usd: [] as number[],
      chat_messages: [] as number[],
      active_viewers: [] as number[],
    };
    const windows: number[] = [];
    /** Adds a stream from its newest row (minute m, row o) and its last row at or before lo (if any). */
    const add = (id: string, m: Minute, o: number, before: Minute | undefined, b: number): boolean => {
      const base = before?.cums;
      const donations = (m.cums[o * 3] as number) - (base === undefined ? 0 : (base[b * 3] as number));
      if (Number.isNaN(donations)) return false;
      names.push(id);
      values.donations_usd.push(donations / 1_000_000);
      values.chat_messages.push(
        (m.cums[o * 3 + 1] as number) - (base === undefined ? 0 : (base[b * 3 + 1] as number)),
      );
      values.active_viewers.push(m.ints[o * INTS] as number);
      windows.push((m.cums[o * 3 + 2] as number) - (base === undefined ? 0 : (base[b * 3 + 2] as number)));
      return true;
    };
    /** The same from the stream's own list: its last row at or before lo searched there. */
    const addSearched = (r: StreamRows): boolean => {
      const k = upperBound(r.starts, lo) - 1;
      if (k < 0 && this.completeAfter !== -Infinity) return false;
      const last = r.starts.length - 1;
      return add(r.id, r.minutes[last] as Minute, r.rows[last] as number, r.minutes[k], r.rows[k] ?? 0);
    };
    // Streams in the newest minute: their last row at or before lo is, for most, in the newest minute
    // at or before lo; both minutes sorted by stream_id, so one merge of two arrays read in order.
    const newest = this.minutes.get(anchor) as Minute;
    const edgeAt = upperBound(this.starts, lo) - 1;
    const edge = edgeAt >= 0 ? this.minutes.get(this.starts[edgeAt] as number) : undefined;
    const edgeStreams = edge?.streams ?? [];
    const native = newest.simple && (edge?.simple ?? true);
    let j = 0;
    for (let i = 0; i < newest.streams.length; i++) {
      const id = newest.streams[i] as string;
      while (
        j < edgeStreams.length &&
        (native ? (edgeStreams[j] as string) < id : compareCodePoints(edgeStreams[j] as string, id) < 0)
      )
        j++;
      const ok =
        edgeStreams[j] === id
          ? add(id, newest, i, edge, j++)
          : addSearched(this.streams.get(id) as StreamRows);
      if (!ok) return undefined;
    }
    // Streams whose newest window is older than the newest minute but inside the range.
    for (const r of this.behind()) {
      if ((r.starts[r.starts.length - 1] as number) > lo && !addSearched(r)) return undefined;
    }
    // The first n by `by` descending, then stream_id: kept in order while the rest is passed over
    // with one comparison each (a sort of every stream costs more than the sums).
    const key = values[p.by];
    const before = (a: number, b: number) => {
      const d = (key[a] as number) - (key[b] as number);
      return d > 0 || (d === 0 && compareCodePoints(names[a] as string, names[b] as string) < 0);
    };
    const best: number[] = [];
    for (let i = 0; i < names.length; i++) {
      if (best.length === p.n && !before(i, best[p.n - 1] as number)) continue;
      let lo = 0;
      let hi = best.length;
      while (lo < hi) {
        const mid = (lo + hi) >>> 1;
        if (before(i, best[mid] as number)) hi = mid;
        else lo = mid + 1;
      }
      best.splice(lo, 0, i);
      if (best.length > p.n) best.pop();
    }
    const rows: TopRow[] = best.map((i) => ({
      stream_id: names[i] as string,
      donations_usd: values.donations_usd[i] as number,
      chat_messages: values.chat_messages[i] as number,
      active_viewers: values.active_viewers[i] as number,
      windows: windows[i] as number,
    }));
    return { latest: new Date(Math.floor(anchor / 1000)), rows };
  }

  /** selectLatestAfter: the streams of the window starting at `latest` after `streamId`, by stream_id. */
  latestAfter(p: {
    latest: string;
    streamId: string;
    limit: number;
    offset: number;
  }): MetricsResult | undefined {
    const start = microsOfIso(p.latest);
    if (start <= this.completeAfter) return undefined;
    const page = new Page(p.offset, p.limit);
    const m = this.minutes.get(start);
    if (m !== undefined) page.addRun(m, firstAfter(m.streams, p.streamId), m.streams.length);
    return page.result(p.latest);
  }

  /** selectLatestWindow: a page of the newest minute's streams, or one stream's newest window. */
  latestWindow(p: {
    streamId: string | undefined;
    limit: number;
    offset: number;
  }): MetricsResult | undefined {
    const page = new Page(p.offset, p.limit);
    if (p.streamId !== undefined) {
      const r = this.streamOf(p.streamId);
      if (r === undefined) return undefined;
      if (r === null) return EMPTY;
      const last = r.starts.length - 1;
      const row = r.rows[last] as number;
      const m = r.minutes[last] as Minute;
      page.addRun(m, row, row + 1);
      return page.result(m.startIso);
    }
    const anchor = this.newest;
    if (anchor === undefined) return this.completeAfter === -Infinity ? EMPTY : undefined;
    const m = this.minutes.get(anchor) as Minute;
    page.addRun(m, 0, m.streams.length);
    return page.result(isoOfMicros(anchor));
  }
}

/** stream_state in memory (a row a stream, by stream_id in code point order), for /state. */
export class StreamStates {
  private readonly streams: string[];
  private readonly viewers: Int32Array;
  /** last_event_at and updated_at, µs. */
  private readonly times: Float64Array;

  /** From rows sorted by stream_id in code point order. */
  constructor(rows: readonly { stream: string; viewers: number; lastEventAt: number; updatedAt: number }[]) {
    this.streams = rows.map((r) => r.stream);
    this.viewers = Int32Array.from(rows, (r) => r.viewers);
    this.times = new Float64Array(rows.length * 2);
    rows.forEach((r, i) => {
      this.times[2 * i] = r.lastEventAt;
      this.times[2 * i + 1] = r.updatedAt;
    });
  }

  get size(): number {
    return this.streams.length;
  }

  /** selectStreamState: by stream_id, after a stream when `after` is given; `total` counts every match. */
  page(p: {
    limit: number;
    offset: number;
    streamId?: string | undefined;
    after?: string | undefined;
  }): StateResult {
    let from = 0;
    let to = this.streams.length;
    if (p.streamId !== undefined) {
      from = firstAfter(this.streams, p.streamId, true);
      to = this.streams[from] === p.streamId ? from + 1 : from;
    }
    const total = to - from;
    if (p.after !== undefined) from = Math.max(from, firstAfter(this.streams, p.after));
    const rows: string[] = [];
    const streamIds: string[] = [];
    for (let i = from + p.offset; i < to && rows.length < p.limit; i++) {
      const stream = this.streams[i] as string;
      rows.push(
        `{"stream_id":${quote(stream)},"active_viewers":${this.viewers[i]},` +
          `"last_event_at":"${isoOfMicros(this.times[2 * i] as number)}","updated_at":"${isoOfMicros(this.times[2 * i + 1] as number)}"}`,
      );
      streamIds.push(stream);
    }
    return { total, rows, streamIds };
  }
}

/**
 * Who is watching a stream, in event-time order (docs/semantics.md, "Active viewers").
 *
 * A user is present at instant t when the last of their joins/leaves before t, or a
 * `stream_stop` after it, is a join. That rule is the whole semantics: a join of a present user
 * or a leave of an absent one changes nothing, a stop empties the stream, and an event arriving
 * out of order is inserted where its event time puts it, so the result does not depend on the
 * arrival order. Ties in event time are broken by event_id, so it is deterministic.
 *
 * State is split at the partition's compaction point C (a minute boundary at or before the
 * watermark): `baseline` is who was present at C (final, persisted in stream_viewers); marks at
 * or after C are kept per user. The active count at the end of window m is
 * `baseline.size + sum(deltas of minutes <= m)`, where a delta is recorded at the minute a
 * user's presence changes, so inserting an event costs O(log k) plus two map updates.
 */
import { MICROS_PER_MINUTE, minuteIndex } from '../../events/timestamp.ts';

export interface Mark {
  ts: number;
  id: string;
  join: boolean;
}

function compare(aTs: number, aId: string, b: Mark): number {
  if (aTs !== b.ts) return aTs < b.ts ? -1 : 1;
  return aId < b.id ? -1 : aId > b.id ? 1 : 0;
}

/** Index of the last mark strictly before (ts, id), or -1. */
function lastBefore(marks: readonly Mark[], ts: number, id: string): number {
  let lo = 0;
  let hi = marks.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (compare(ts, id, marks[mid]!) > 0) lo = mid + 1;
    else hi = mid;
  }
  return lo - 1;
}

export interface BaselineChange {
  added: string[];
  removed: string[];
}

export class StreamPresence {
  readonly baseline: Set<string>;
  private readonly marks = new Map<string, Mark[]>();
  private stops: Mark[] = [];
  /** minute index → change of the active count at that minute. */
  private readonly deltas = new Map<number, number>();

  constructor(baseline: Iterable<string> = []) {
    this.baseline = new Set(baseline);
  }

  /** Applies a join or leave; returns the index of the first minute whose count changed, or undefined. */
  apply(user: string, ts: number, id: string, join: boolean): number | undefined {
    const before = this.presentBefore(user, ts, id);
    let list = this.marks.get(user);
    if (list === undefined) {
      list = [];
      this.marks.set(user, list);
    }
    const at = lastBefore(list, ts, id) + 1;
    list.splice(at, 0, { ts, id, join });
    this.noteKey(ts, id);
    if (before === join) return undefined;
    const d = join ? 1 : -1;
    this.addDelta(ts, d);
    const next = this.nextAfter(user, ts, id);
    if (next !== undefined) this.addDelta(next, -d);
    return minuteIndex(ts);
  }

  /** Applies a stream_stop: everyone present leaves. Returns the first changed minute, or undefined. */
  applyStop(ts: number, id: string): number | undefined {
    if (this.isAfterEverything(ts, id)) {
      // In order (the common case): whoever is present now leaves, nobody comes back later.
      this.stops.push({ ts, id, join: false });
      this.noteKey(ts, id);
      const n = this.currentCount();
      if (n === 0) return undefined;
      this.addDelta(ts, -n);
      return minuteIndex(ts);
    }
    this.noteKey(ts, id);
    const present: string[] = [];
    for (const user of this.users()) {
      if (this.presentBefore(user, ts, id)) present.push(user);
    }
    const at = lastBefore(this.stops, ts, id) + 1;
    this.stops.splice(at, 0, { ts, id, join: false });
    if (present.length === 0) return undefined;
    for (const user of present) {
      this.addDelta(ts, -1);
      const next = this.nextAfter(user, ts, id);
      if (next !== undefined) this.addDelta(next, 1);
    }
    return minuteIndex(ts);
  }

  /** Active viewers at the end of the window with index `minute` (events before its end). */
  countAtEndOf(minute: number): number {
    let count = this.baseline.size;
    for (const [m, d] of this.deltas) if (m <= minute) count += d;
    return count;
  }

  /** Active viewers after every event seen so far. */
  currentCount(): number {
    let count = this.baseline.size;
    for (const d of this.deltas.values()) count += d;
    return count;
  }

  /**
   * Folds everything before `c` (a minute boundary) into the baseline and returns who entered
   * and left it, for the persisted copy.
   */
  compact(c: number): BaselineChange {
    const change: BaselineChange = { added: [], removed: [] };
    const stopsBefore = lastBefore(this.stops, c, '') + 1;
    const candidates = stopsBefore > 0 ? this.users() : this.marks.keys();
    for (const user of [...candidates]) {
      const present = this.presentBefore(user, c, '');
      const was = this.baseline.has(user);
      if (present && !was) {
        this.baseline.add(user);
        change.added.push(user);
      } else if (!present && was) {
        this.baseline.delete(user);
        change.removed.push(user);
      }
    }
    for (const [user, list] of this.marks) {
      const cut = lastBefore(list, c, '') + 1;
      if (cut === list.length) this.marks.delete(user);
      else if (cut > 0) list.splice(0, cut);
    }
    if (stopsBefore > 0) this.stops = this.stops.slice(stopsBefore);
    const cIndex = c / MICROS_PER_MINUTE;
    for (const m of [...this.deltas.keys()]) if (m < cIndex) this.deltas.delete(m);
    return change;
  }

  /** True when nothing but the baseline is held (the stream can be forgotten if that is empty too). */
  isSettled(): boolean {
    return this.marks.size === 0 && this.stops.length === 0 && this.deltas.size === 0;
  }

  /** Newest (ts, id) ever inserted: a stop after it is in order. */
  private lastTs = Number.NEGATIVE_INFINITY;
  private lastId = '';

  private noteKey(ts: number, id: string): void {
    if (ts > this.lastTs || (ts === this.lastTs && id > this.lastId)) {
      this.lastTs = ts;
      this.lastId = id;
    }
  }

  private isAfterEverything(ts: number, id: string): boolean {
    return ts > this.lastTs || (ts === this.lastTs && id > this.lastId);
  }

  private users(): Set<string> {
    const all = new Set(this.baseline);
    for (const user of this.marks.keys()) all.add(user);
    return all;
  }

  private presentBefore(user: string, ts: number, id: string): boolean {
    const list = this.marks.get(user);
    const u = list === undefined ? -1 : lastBefore(list, ts, id);
    const s = lastBefore(this.stops, ts, id);
    const mark = u >= 0 ? list![u]! : undefined;
    const stop = s >= 0 ? this.stops[s]! : undefined;
    if (mark !== undefined && (stop === undefined || compare(mark.ts, mark.id, stop) > 0)) return mark.join;
    if (stop !== undefined) return false;
    return this.baseline.has(user);
  }

  /** Event time of the user's next join/leave or the stream's next stop after (ts, id). */
  private nextAfter(user: string, ts: number, id: string): number | undefined {
    const list = this.marks.get(user);
    let next: number | undefined;
    if (list !== undefined) {
      const i = lastBefore(list, ts, id) + 1;
      // skip the mark at (ts, id) itself
      const j = i < list.length && compare(ts, id, list[i]!) === 0 ? i + 1 : i;
      if (j < list.length) next = list[j]!.ts;
    }
    const si = lastBefore(this.stops, ts, id) + 1;
    const sj = si < this.stops.length && compare(ts, id, this.stops[si]!) === 0 ? si + 1 : si;
    if (sj < this.stops.length) {
      const stopTs = this.stops[sj]!.ts;
      if (next === undefined || stopTs < next) next = stopTs;
    }
    return next;
  }

  private addDelta(ts: number, d: number): void {
    const m = minuteIndex(ts);
    const v = (this.deltas.get(m) ?? 0) + d;
    if (v === 0) this.deltas.delete(m);
    else this.deltas.set(m, v);
  }
}

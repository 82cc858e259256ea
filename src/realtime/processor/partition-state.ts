/**
 * The windowing engine for one partition: event-time minute windows per stream, the watermark,
 * late events, dedup and active viewers (docs/semantics.md).
 *
 * Everything here is a pure function of the partition's records in offset order (plus idle
 * marks, which are persisted), so re-reading the log from `replayOffset` after a crash rebuilds
 * exactly the state an uninterrupted run has. Only what changed since the last commit is handed
 * to the store (`takeCommit`), so a commit costs what changed, not the total state.
 *
 * Lateness: an event is late when its time is before the watermark (max event time seen in this
 * partition − allowed delay). A window [m, m+1min) is final once the watermark reaches m+1min;
 * final windows are written one last time with is_final and dropped from memory.
 */
import type { BusRecord } from '../../bus/types.ts';
import { MAX_EVENT_BYTES, parseStreamEvent, type StreamDeadLetterReason } from '../../events/stream-event.ts';
import { MICROS_PER_MINUTE, MICROS_PER_MS, minuteFloor, minuteIndex } from '../../events/timestamp.ts';
import { StreamPresence } from './presence.ts';
import type { ClaimedPartition, DeadLetterRow, IdleMark, PartitionCommit, WindowRow } from './types.ts';

export interface EngineSettings {
  watermarkDelayMs: number;
  maxFutureSkewMs: number;
}

interface WindowAgg {
  events: number;
  chatMessages: number;
  donationMicros: bigint;
  donationCount: number;
  viewerJoins: number;
  viewerLeaves: number;
}

interface StreamSlot {
  presence: StreamPresence;
  windows: Map<number, WindowAgg>;
  lastEventTs: number;
}

interface Bucket {
  /** Smallest offset of an event accepted into this minute. */
  minOffset: number;
  /** Max event time seen before that record. */
  maxTsBefore: number;
}

export type IngestOutcome = 'accepted' | 'duplicate' | 'late' | 'invalid' | 'replayed' | 'skipped';

/** Counters since the last `takeCounters`, for metrics. */
export interface IngestCounters {
  byType: Map<string, number>;
  deadLetters: Map<string, number>;
  duplicates: number;
}

const NONE = Number.NEGATIVE_INFINITY;

export class PartitionState {
  readonly partition: number;
  readonly epoch: number;
  /** Records before this offset were already committed: they only rebuild state. */
  readonly recoverUntil: number;
  position: number;
  maxTs: number;
  compactedThrough: number;
  lastRecordWallMs: number;
  private lastRecordMaxTs: number;
  private idleMarks: IdleMark[];
  private readonly settings: EngineSettings;
  private readonly delayMicros: number;
  private readonly streams = new Map<string, StreamSlot>();
  private readonly dedup = new Map<number, Set<string>>();
  private readonly buckets = new Map<number, Bucket>();
  // Pending for the next commit:
  private readonly dirtyWindows = new Map<string, Set<number>>();
  private readonly finalRows: WindowRow[] = [];
  private readonly dirtyStreams = new Set<string>();
  /** Net change of the persisted baseline per (stream, user): last fold wins. */
  private readonly viewerChanges = new Map<string, { streamId: string; userId: string; present: boolean }>();
  private readonly deadLetters: DeadLetterRow[] = [];
  private positionDirty = false;
  /** The persisted max event time, applied once replay reaches the committed offset. */
  private readonly pendingFinalMaxTs: number | undefined;
  /** Records isolated because their commit failed (see isolation.ts): offset → the database error. */
  private readonly quarantined: Map<number, string>;
  readonly counters: IngestCounters = { byType: new Map(), deadLetters: new Map(), duplicates: 0 };

  constructor(claimed: ClaimedPartition, settings: EngineSettings, nowMs: number) {
    this.partition = claimed.partition;
    this.epoch = claimed.epoch;
    this.recoverUntil = claimed.committedOffset;
    this.position = claimed.replayOffset;
    this.maxTs = claimed.replayMaxTs ?? NONE;
    this.lastRecordMaxTs = this.maxTs;
    this.compactedThrough = claimed.compactedThrough ?? NONE;
    this.idleMarks = claimed.idleMarks.filter((m) => m.offset > claimed.replayOffset);
    this.settings = settings;
    this.delayMicros = settings.watermarkDelayMs * MICROS_PER_MS;
    this.lastRecordWallMs = nowMs;
    for (const [streamId, users] of claimed.viewers) {
      this.streams.set(streamId, {
        presence: new StreamPresence(users),
        windows: new Map(),
        lastEventTs: NONE,
      });
    }
    if (claimed.replayOffset >= claimed.committedOffset && claimed.maxTs !== undefined) {
      // Nothing to replay: take the persisted max (it includes idle advances).
      this.maxTs = Math.max(this.maxTs, claimed.maxTs);
      this.lastRecordMaxTs = this.maxTs;
    }
    this.pendingFinalMaxTs = claimed.maxTs;
    this.quarantined = new Map((claimed.quarantined ?? []).map((q) => [q.offset, q.detail]));
  }

  get replaying(): boolean {
    return this.position < this.recoverUntil;
  }

  get watermark(): number {
    return this.maxTs === NONE ? NONE : this.maxTs - this.delayMicros;
  }

  ingest(record: BusRecord, nowMs: number): IngestOutcome {
    if (record.offset < this.position) return 'skipped';
    this.applyIdleMarksUpTo(record.offset);
    this.position = record.offset + 1;
    this.positionDirty = true;
    const replaying = record.offset < this.recoverUntil;
    if (!replaying) {
      this.lastRecordWallMs = nowMs;
    }
    const outcome = this.ingestEvent(record, replaying);
    if (!replaying) this.lastRecordMaxTs = this.maxTs;
    if (replaying && this.position === this.recoverUntil) this.finishReplay();
    return outcome;
  }

  private ingestEvent(record: BusRecord, replaying: boolean): IngestOutcome {
    const isolated = this.quarantined.get(record.offset);
    if (isolated !== undefined) {
      this.deadLetter(record, 'unstorable', isolated, undefined, undefined, undefined);
      return 'invalid';
    }
    const parsed = parseStreamEvent(record.value);
    if (!parsed.ok) {
      this.deadLetter(record, parsed.reason, parsed.detail, undefined, undefined, undefined);
      return 'invalid';
    }
    const { event, tsMicros } = parsed.value;
    if (tsMicros > (record.timestamp + this.settings.maxFutureSkewMs) * MICROS_PER_MS) {
      const detail = `event time ${event.ts} is more than ${this.settings.maxFutureSkewMs} ms after it reached the log (${new Date(record.timestamp).toISOString()})`;
      this.deadLetter(record, 'future_ts', detail, event.event_id, event.stream_id, tsMicros);
      return 'invalid';
    }
    const watermark = this.watermark;
    if (tsMicros < watermark) {
      const detail = `event time ${event.ts} is before the watermark ${new Date(watermark / MICROS_PER_MS).toISOString()}`;
      this.deadLetter(record, 'late', detail, event.event_id, event.stream_id, tsMicros);
      return 'late';
    }
    // What this event may add to the watermark: its time, but never more than its arrival time, so
    // a clock running ahead (within the allowed skew) cannot make on-time events late.
    const watermarkTs = Math.min(tsMicros, record.timestamp * MICROS_PER_MS);
    if (tsMicros < this.compactedThrough) {
      // Only while replaying: the event was accepted before, and its minute is final and folded.
      this.maxTs = Math.max(this.maxTs, watermarkTs);
      return 'replayed';
    }
    const minute = minuteIndex(tsMicros);
    let seen = this.dedup.get(minute);
    if (seen === undefined) {
      seen = new Set();
      this.dedup.set(minute, seen);
    }
    if (seen.has(event.event_id)) {
      if (!replaying) this.counters.duplicates++;
      return 'duplicate';
    }
    seen.add(event.event_id);
    if (!this.buckets.has(minute))
      this.buckets.set(minute, { minOffset: record.offset, maxTsBefore: this.maxTs });
    if (watermarkTs > this.maxTs) this.maxTs = watermarkTs;

    let slot = this.streams.get(event.stream_id);
    if (slot === undefined) {
      slot = { presence: new StreamPresence(), windows: new Map(), lastEventTs: NONE };
      this.streams.set(event.stream_id, slot);
    }
    let agg = slot.windows.get(minute);
    if (agg === undefined) {
      agg = {
        events: 0,
        chatMessages: 0,
        donationMicros: 0n,
        donationCount: 0,
        viewerJoins: 0,
        viewerLeaves: 0,
      };
      slot.windows.set(minute, agg);
    }
    agg.events++;
    if (tsMicros > slot.lastEventTs) slot.lastEventTs = tsMicros;
    let changedFrom: number | undefined;
    switch (event.event_type) {
      case 'chat_message':
        agg.chatMessages++;
        break;
      case 'donation':
        agg.donationCount++;
        // Each amount to whole micro-dollars (exact in a double up to the 10^6 USD cap), summed exactly.
        agg.donationMicros += BigInt(Math.round((event.amount_usd ?? 0) * 1_000_000));
        break;
      case 'viewer_join':
        agg.viewerJoins++;
        changedFrom = slot.presence.apply(event.user_id, tsMicros, event.event_id, true);
        break;
      case 'viewer_leave':
        agg.viewerLeaves++;
        changedFrom = slot.presence.apply(event.user_id, tsMicros, event.event_id, false);
        break;
      case 'stream_stop':
        changedFrom = slot.presence.applyStop(tsMicros, event.event_id);
        break;
      case 'stream_start':
        break;
    }
    if (!replaying) {
      this.counters.byType.set(event.event_type, (this.counters.byType.get(event.event_type) ?? 0) + 1);
    }
    this.markDirty(event.stream_id, slot, minute, changedFrom);
    return 'accepted';
  }

  private markDirty(
    streamId: string,
    slot: StreamSlot,
    minute: number,
    changedFrom: number | undefined,
  ): void {
    let set = this.dirtyWindows.get(streamId);
    if (set === undefined) {
      set = new Set();
      this.dirtyWindows.set(streamId, set);
    }
    set.add(minute);
    if (changedFrom !== undefined) {
      for (const m of slot.windows.keys()) if (m >= changedFrom) set.add(m);
    }
    this.dirtyStreams.add(streamId);
  }

  private deadLetter(
    record: BusRecord,
    reason: StreamDeadLetterReason,
    detail: string,
    eventId: string | undefined,
    streamId: string | undefined,
    eventTs: number | undefined,
  ): void {
    // Rows re-derived during replay were committed already; the store ignores them by (partition, offset).
    this.deadLetters.push({
      partition: this.partition,
      offset: record.offset,
      reason,
      detail,
      // A copy (the record is a view into a large read chunk), of at most the first MAX_EVENT_BYTES.
      raw: Buffer.from(record.value.subarray(0, MAX_EVENT_BYTES)),
      eventId,
      streamId,
      eventTs,
    });
    if (record.offset >= this.recoverUntil) {
      this.counters.deadLetters.set(reason, (this.counters.deadLetters.get(reason) ?? 0) + 1);
    }
  }

  /** While replaying, re-applies the idle advances the original run made, at the same offsets. */
  private applyIdleMarksUpTo(offset: number): void {
    while (this.idleCursor < this.idleMarks.length && offset < this.recoverUntil) {
      const mark = this.idleMarks[this.idleCursor]!;
      if (mark.offset > offset) break;
      if (mark.maxTs > this.maxTs) this.maxTs = mark.maxTs;
      this.idleCursor++;
    }
  }

  private idleCursor = 0;

  private finishReplay(): void {
    if (this.pendingFinalMaxTs !== undefined && this.pendingFinalMaxTs > this.maxTs) {
      this.maxTs = this.pendingFinalMaxTs;
    }
    this.lastRecordMaxTs = this.maxTs;
  }

  /** Called after a batch: finalizes the windows the watermark has passed. */
  compact(): void {
    const watermark = this.watermark;
    if (watermark === NONE) return;
    const c = minuteFloor(watermark);
    const cIndex = c / MICROS_PER_MINUTE;
    // While replaying, the watermark only climbs back to the persisted one, already folded.
    if (c <= this.compactedThrough || this.replaying) return;
    for (const [streamId, slot] of this.streams) {
      for (const [minute, agg] of slot.windows) {
        if (minute >= cIndex) continue;
        this.finalRows.push(this.rowOf(streamId, slot, minute, agg, true));
        slot.windows.delete(minute);
        this.dirtyWindows.get(streamId)?.delete(minute);
      }
      const change = slot.presence.compact(c);
      for (const userId of change.added)
        this.viewerChanges.set(`${streamId}\u0000${userId}`, { streamId, userId, present: true });
      for (const userId of change.removed) {
        this.viewerChanges.set(`${streamId}\u0000${userId}`, { streamId, userId, present: false });
      }
      if (slot.windows.size === 0 && slot.presence.isSettled() && slot.presence.baseline.size === 0) {
        if (!this.dirtyStreams.has(streamId)) this.streams.delete(streamId);
      }
    }
    for (const m of [...this.dedup.keys()]) if (m < cIndex) this.dedup.delete(m);
    for (const m of [...this.buckets.keys()]) if (m < cIndex) this.buckets.delete(m);
    this.compactedThrough = c;
    this.positionDirty = true;
  }

  /**
   * Advances the watermark of a partition that has had no records for a while, to `candidate`
   * (µs), when that finalizes at least one more minute. Recorded as an idle mark so a replay
   * makes the same decision at the same offset.
   */
  advanceIdle(candidate: number): boolean {
    if (this.replaying || candidate <= this.maxTs) return false;
    if (minuteFloor(candidate - this.delayMicros) <= this.compactedThrough) return false;
    this.maxTs = candidate;
    this.idleMarks.push({ offset: this.position, maxTs: candidate });
    this.compact();
    return true;
  }

  /**
   * Max event time at the last record, moved on by wall-clock time since (for idle advances), and
   * never past the wall clock itself.
   */
  idleCandidate(nowMs: number): number {
    return this.lastRecordMaxTs === NONE
      ? NONE
      : Math.min(
          this.lastRecordMaxTs + (nowMs - this.lastRecordWallMs) * MICROS_PER_MS,
          nowMs * MICROS_PER_MS,
        );
  }

  get hasPending(): boolean {
    return (
      this.positionDirty ||
      this.dirtyWindows.size > 0 ||
      this.finalRows.length > 0 ||
      this.deadLetters.length > 0 ||
      this.viewerChanges.size > 0
    );
  }

  /** Everything to write since the last commit. Call `handedOff()` once the writer has it. */
  takeCommit(): PartitionCommit {
    const windows: WindowRow[] = [...this.finalRows];
    for (const [streamId, minutes] of this.dirtyWindows) {
      const slot = this.streams.get(streamId);
      if (slot === undefined) continue;
      for (const minute of minutes) {
        const agg = slot.windows.get(minute);
        if (agg !== undefined) windows.push(this.rowOf(streamId, slot, minute, agg, false));
      }
    }
    const streams = [];
    for (const streamId of this.dirtyStreams) {
      const slot = this.streams.get(streamId);
      if (slot !== undefined && slot.lastEventTs !== NONE) {
        streams.push({
          streamId,
          activeViewers: slot.presence.currentCount(),
          lastEventTs: slot.lastEventTs,
        });
      }
    }
    let replayOffset = this.position;
    let replayMaxTs = this.maxTs;
    for (const [minute, bucket] of this.buckets) {
      if (minute * MICROS_PER_MINUTE >= this.compactedThrough && bucket.minOffset < replayOffset) {
        replayOffset = bucket.minOffset;
        replayMaxTs = bucket.maxTsBefore;
      }
    }
    return {
      partition: this.partition,
      epoch: this.epoch,
      committedOffset: this.position,
      replayOffset,
      replayMaxTs: replayMaxTs === NONE ? undefined : replayMaxTs,
      compactedThrough: this.compactedThrough === NONE ? undefined : this.compactedThrough,
      maxTs: this.maxTs === NONE ? undefined : this.maxTs,
      idleMarks: this.idleMarks.filter((m) => m.offset > replayOffset),
      windows,
      streams,
      viewersAdded: [...this.viewerChanges.values()]
        .filter((v) => v.present)
        .map(({ streamId, userId }) => ({ streamId, userId })),
      viewersRemoved: [...this.viewerChanges.values()]
        .filter((v) => !v.present)
        .map(({ streamId, userId }) => ({ streamId, userId })),
      deadLetters: [...this.deadLetters],
    };
  }

  /**
   * The commit returned by the last `takeCommit` now belongs to the writer, which retries it until
   * it is durable (a crash before then replays the log from the last durable position): forget
   * what it carried. It is NOT durable yet.
   */
  handedOff(commit: PartitionCommit): void {
    // The processor never ingests while a commit is in flight, so all that was pending went out.
    this.finalRows.length = 0;
    this.dirtyWindows.clear();
    this.dirtyStreams.clear();
    this.viewerChanges.clear();
    this.deadLetters.length = 0;
    this.idleMarks = commit.idleMarks;
    this.positionDirty = false;
  }

  openWindows(): number {
    let n = 0;
    for (const slot of this.streams.values()) n += slot.windows.size;
    return n;
  }

  dedupKeys(): number {
    let n = 0;
    for (const set of this.dedup.values()) n += set.size;
    return n;
  }

  private rowOf(
    streamId: string,
    slot: StreamSlot,
    minute: number,
    agg: WindowAgg,
    isFinal: boolean,
  ): WindowRow {
    return {
      windowStart: minute * MICROS_PER_MINUTE,
      streamId,
      activeViewers: slot.presence.countAtEndOf(minute),
      chatMessages: agg.chatMessages,
      donationMicros: agg.donationMicros,
      donationCount: agg.donationCount,
      viewerJoins: agg.viewerJoins,
      viewerLeaves: agg.viewerLeaves,
      events: agg.events,
      isFinal,
    };
  }
}

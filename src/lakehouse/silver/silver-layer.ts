/**
 * Silver as a lake-writer layer, per partition of `events_raw`:
 *   - invalid records go to the dead-letter files with the contract's reason;
 *   - the watermark is the max event time seen (each event's contribution capped by its arrival
 *     time) minus the allowed lateness; an event older than it goes to the dead letters as `late`;
 *   - the first occurrence of an `idempotency_key` in log order wins, later copies are counted and
 *     dropped;
 *   - a user's events form gap-based sessions: a new session starts when the gap to the user's
 *     previous event is at least the session gap. A session is closed once the watermark passes its
 *     last event + the gap; only then are it and its events written (an event's `session_id` can
 *     change until then, when an earlier event of the user arrives late but within the lateness).
 *     `session_id` is a hash of the user and the session's first event, so re-processing gives the
 *     same ids.
 * Everything is a function of the log order (and of persisted idle advances), so a replay after a
 * restart rebuilds the same open sessions: the layer asks to be replayed from the first record of
 * its oldest open session.
 */
import { createHash } from 'node:crypto';
import type { BusRecord } from '../../bus/types.ts';
import {
  CommerceEnvelopeSchema,
  type CommerceEvent,
  parseCommerceEvent,
  utcDate,
} from '../../events/commerce-event.ts';
import { formatMicros, MICROS_PER_MS } from '../../events/timestamp.ts';
import { usdRate } from '../currency.ts';
import type { WriterClaim } from '../lake-writer/commit-log.ts';
import type { Layer, LayerFile, LayerPartition } from '../lake-writer/lake-writer.ts';
import { type Column, encodeParquet } from '../parquet/encode.ts';

export const SILVER_EVENTS_PATH = 'silver/events';
export const SILVER_SESSIONS_PATH = 'silver/sessions';
export const DEAD_LETTER_PATH = 'dead-letter-queue/events';

export interface SilverSettings {
  topic: string;
  /** Watermark = max event time - this. Default 10 minutes. */
  allowedLatenessMs: number;
  /** A gap this long or longer between a user's events starts a new session. Default 30 minutes. */
  sessionGapMs: number;
  /** A partition without records this long moves its watermark with the wall clock. */
  idleTimeoutMs: number;
  /**
   * An event stamped more than this after its record's arrival in the log is a dead letter with
   * reason `future_ts` (RTSA_MAX_FUTURE_SKEW; unset: no limit). Kept, such an event would hold its
   * session, and the replay offset with it, open until the wall clock reached its time.
   */
  maxFutureSkewMs?: number;
}

/** What silver keeps in Postgres beside its position (lake.writer_partitions.state). */
interface SilverState {
  /** Max event time (µs) before the record at the replay offset. */
  replayMaxTs: number | null;
  /** Watermark advances made while the partition was idle, at the offset where they happened. */
  idleMarks: { offset: number; maxTs: number }[];
  /**
   * For readers (the DAG's wait for silver), not for replay: the watermark (µs) at this commit, and
   * the earliest event time among the records still held in open sessions (null: none). Every
   * event older than both is in the committed files or will be dropped as late.
   */
  watermark?: number | null;
  heldMinTs?: number | null;
  /**
   * For readers: the partition has never had a record and has been idle for the idle timeout.
   * Its watermark stays unset (a history sent later is not late), and it holds nothing.
   */
  empty?: boolean;
  /** The rules this state was made under (see SILVER_RULES); absent: 1. */
  rules?: number;
  /**
   * Records read under older rules (an older rtsa), oldest first: those before `before` (and past
   * the entry before it) under `rules`. The replay judges them by those rules (see fold). An entry
   * is kept while the replay offset is below its `before`.
   */
  legacy?: LegacyRange[];
  /** Written by rules 2: records before it were read under rules 1. */
  legacyBefore?: number;
}

interface LegacyRange {
  before: number;
  rules: number;
}

/**
 * The version of silver's per-record rules. A replay must judge the records it re-reads as the
 * run that first read them did: an event that run accepted and still held in an open session
 * has no output yet, and rejecting it on replay (without a dead letter, which replays never
 * write) would lose it. 1: before the future_ts rule and the 64-level nesting limit; 2: with both;
 * 3: a copy of a key whose first event's session may close already (by the watermark) is judged
 * as a new event, whether or not a commit has closed that session yet (see fold).
 */
export const SILVER_RULES = 3;
/** The nesting an event of rules 1 is judged with on replay: deep enough for what it took. */
const RULES_1_MAX_DEPTH = 1_000;

interface Held {
  offset: number;
  ts: number;
  event: CommerceEvent;
  /** The partition's max event time before this record (for replay). */
  maxTsBefore: number;
}

interface DeadLetter {
  record: BusRecord;
  reason: string;
  detail: string;
  rejectedAtMs: number;
}

export const SILVER_DROP_REASONS = ['duplicate', 'late', 'invalid'] as const;
export type SilverDropReason = (typeof SILVER_DROP_REASONS)[number];

/** Told of every live (not replayed) event silver does not keep; the lake role counts them. */
export interface SilverCounters {
  dropped(reason: SilverDropReason): void;
}

const NONE = Number.NEGATIVE_INFINITY;

function byTimeThenKey(a: Held, b: Held): number {
  if (a.ts !== b.ts) return a.ts - b.ts;
  const x = a.event.idempotency_key;
  const y = b.event.idempotency_key;
  return x < y ? -1 : x > y ? 1 : 0;
}

/** Deterministic session id: the user and the session's first event (its key and time). */
export function sessionIdOf(userId: string, first: { idempotencyKey: string; ts: number }): string {
  return createHash('sha256')
    .update(`${userId}\n${first.idempotencyKey}\n${first.ts}`)
    .digest('hex')
    .slice(0, 32);
}

export function silverLayer(settings: SilverSettings, counters?: SilverCounters): Layer {
  return {
    name: 'silver',
    open: (claim) => new SilverPartition(claim, settings, counters),
  };
}

class SilverPartition implements LayerPartition {
  private readonly settings: SilverSettings;
  private readonly claim: WriterClaim;
  private readonly counters: SilverCounters | undefined;
  private maxTs: number;
  private idleMarks: { offset: number; maxTs: number }[];
  private readonly users = new Map<string, Held[]>();
  private readonly keys = new Map<string, Held>();
  /** Next offset to ingest. */
  private position: number;
  private lastRecordWallMs: number | undefined;
  private caughtUp: boolean;
  private closedEvents: { held: Held; sessionId: string }[] = [];
  private closedSessions: { sessionId: string; userId: string; events: Held[] }[] = [];
  private deadLetters: DeadLetter[] = [];
  private first: number | undefined;
  private last: number | undefined;
  private dirty = false;
  private idleCommits = 0;
  private emptyMarked = false;
  /** See SilverState.legacy. */
  private legacy: LegacyRange[];

  constructor(claim: WriterClaim, settings: SilverSettings, counters: SilverCounters | undefined) {
    this.claim = claim;
    this.settings = settings;
    this.counters = counters;
    const state = (claim.state ?? { replayMaxTs: null, idleMarks: [] }) as SilverState;
    this.maxTs = state.replayMaxTs ?? NONE;
    this.idleMarks = state.idleMarks ?? [];
    // A state of older rules: everything it committed past was read under them.
    this.legacy =
      state.legacy ?? (state.legacyBefore !== undefined ? [{ before: state.legacyBefore, rules: 1 }] : []);
    const fresh = claim.state === null || claim.state === undefined;
    if (!fresh && (state.rules ?? 1) < SILVER_RULES)
      this.legacy = [...this.legacy, { before: claim.committedOffset, rules: state.rules ?? 1 }];
    this.position = claim.replayOffset;
    this.caughtUp = claim.replayOffset >= claim.committedOffset;
    if (this.caughtUp) this.finishReplay();
  }

  private get watermark(): number {
    return this.maxTs - this.settings.allowedLatenessMs * MICROS_PER_MS;
  }

  private applyIdleMarks(beforeOffset: number): void {
    for (const mark of this.idleMarks) {
      if (mark.offset <= beforeOffset && mark.maxTs > this.maxTs) this.maxTs = mark.maxTs;
    }
  }

  replay(record: BusRecord): void {
    this.fold(record, false, 0);
    if (record.offset + 1 >= this.claim.committedOffset) this.finishReplay();
  }

  /** The replay reached the committed offset: drop what the last commit already wrote. */
  private finishReplay(): void {
    this.caughtUp = true;
    this.applyIdleMarks(this.claim.committedOffset);
    this.closeSessions(false);
  }

  ingest(record: BusRecord, nowMs: number): void {
    if (!this.caughtUp) this.finishReplay();
    this.first ??= record.offset;
    this.last = record.offset;
    this.dirty = true;
    this.fold(record, true, nowMs);
    this.lastRecordWallMs = nowMs;
  }

  private fold(record: BusRecord, emit: boolean, nowMs: number): void {
    this.applyIdleMarks(record.offset);
    this.position = record.offset + 1;
    // Replayed records of an older run are judged by its rules (see SILVER_RULES).
    const rules = emit
      ? SILVER_RULES
      : (this.legacy.find((l) => record.offset < l.before)?.rules ?? SILVER_RULES);
    const legacy = rules < 2;
    const parsed = parseCommerceEvent(record.value, legacy ? RULES_1_MAX_DEPTH : undefined);
    if (!parsed.ok) {
      if (emit) {
        this.deadLetters.push({ record, reason: parsed.reason, detail: parsed.detail, rejectedAtMs: nowMs });
        this.counters?.dropped('invalid');
      }
      return;
    }
    const ts = parsed.timestampMicros;
    const skew = this.settings.maxFutureSkewMs;
    if (skew !== undefined && !legacy && ts > (record.timestamp + skew) * MICROS_PER_MS) {
      if (emit) {
        this.deadLetters.push({
          record,
          reason: 'future_ts',
          detail: `timestamp ${formatMicros(ts)} is more than ${Math.round(skew / 1000)} s after the record reached the log (${formatMicros(record.timestamp * MICROS_PER_MS)})`,
          rejectedAtMs: nowMs,
        });
        this.counters?.dropped('invalid');
      }
      return;
    }
    const watermark = this.watermark;
    if (ts < watermark) {
      if (emit) {
        this.deadLetters.push({
          record,
          reason: 'late',
          detail: `event time ${formatMicros(ts)} is older than the watermark ${formatMicros(watermark)} (max event time - ${this.settings.allowedLatenessMs / 60_000} min)`,
          rejectedAtMs: nowMs,
        });
        this.counters?.dropped('late');
      }
      return;
    }
    const key = parsed.event.idempotency_key;
    const first = this.keys.get(key);
    // The first event's key is forgotten once its session is written, and when that happens
    // depends on when commits come. So a copy counts as one while that session cannot close yet
    // (by the watermark): after that, it is judged as a new event in every run, however the records
    // were batched (before rules 3, a commit in between decided). A copy of the same time is late.
    if (first !== undefined && (rules < 3 || !this.mayClose(first))) {
      if (emit) this.counters?.dropped('duplicate');
      return;
    }
    const held: Held = { offset: record.offset, ts, event: parsed.event, maxTsBefore: this.maxTs };
    this.keys.set(key, held);
    let events = this.users.get(parsed.event.user_id);
    if (events === undefined) {
      events = [];
      this.users.set(parsed.event.user_id, events);
    }
    events.push(held);
    // One clock cannot run the watermark ahead of time: an event counts at most up to its arrival.
    const contribution = Math.min(ts, record.timestamp * MICROS_PER_MS);
    if (contribution > this.maxTs) this.maxTs = contribution;
  }

  /** Whether the watermark lets the session holding `held` close (as closeSessions would). */
  private mayClose(held: Held): boolean {
    const events = [...(this.users.get(held.event.user_id) ?? [held])].sort(byTimeThenKey);
    const gap = this.settings.sessionGapMs * MICROS_PER_MS;
    let last = held.ts;
    for (let i = events.indexOf(held) + 1; i < events.length && events[i]!.ts - last < gap; i++) {
      last = events[i]!.ts;
    }
    return this.watermark >= last + gap;
  }

  tick(nowMs: number): void {
    if (!this.caughtUp) return;
    if (this.lastRecordWallMs === undefined) {
      // Idle since the claim: count from now.
      this.lastRecordWallMs = nowMs;
      return;
    }
    if (nowMs - this.lastRecordWallMs < this.settings.idleTimeoutMs) return;
    if (this.position === 0) {
      // Idle and empty since it was created: there is no session to close, and moving the
      // watermark to the wall clock would make every event of a history sent later (a backfill
      // into a fresh lake) late. Say so once, for the wait for silver.
      if (!this.emptyMarked) this.dirty = this.emptyMarked = true;
      return;
    }
    // Idle: event time moves on with the wall clock, so the last sessions still close.
    const candidate = nowMs * MICROS_PER_MS;
    if (candidate <= this.maxTs) return;
    this.maxTs = candidate;
    this.idleMarks.push({ offset: this.position, maxTs: candidate });
    this.dirty = true;
  }

  /** Moves the sessions the watermark has closed to the output (or drops them, already written). */
  private closeSessions(emit: boolean): void {
    const watermark = this.watermark;
    const gap = this.settings.sessionGapMs * MICROS_PER_MS;
    for (const [userId, events] of this.users) {
      // A session ends at or after the user's earliest event: none can close before the watermark
      // passes that + the gap, so most users of a live stream are skipped without sorting.
      let earliest = Number.POSITIVE_INFINITY;
      for (const held of events) if (held.ts < earliest) earliest = held.ts;
      if (watermark < earliest + gap) continue;
      // Events at one instant in key order, not arrival order: the session's first event (its id,
      // first_device_type) and event_types must not depend on the order the copies arrived in.
      events.sort(byTimeThenKey);
      let start = 0;
      let kept: Held[] | undefined;
      for (let i = 1; i <= events.length; i++) {
        const end = i === events.length || events[i]!.ts - events[i - 1]!.ts >= gap;
        if (!end) continue;
        const session = events.slice(start, i);
        const sessionLast = session[session.length - 1]!;
        if (watermark >= sessionLast.ts + gap) {
          if (emit) {
            const firstEvent = session[0]!;
            const sessionId = sessionIdOf(userId, {
              idempotencyKey: firstEvent.event.idempotency_key,
              ts: firstEvent.ts,
            });
            for (const held of session) this.closedEvents.push({ held, sessionId });
            this.closedSessions.push({ sessionId, userId, events: session });
          }
          for (const held of session) {
            // A later copy judged as a new event (see fold) holds the key now: it stays.
            if (this.keys.get(held.event.idempotency_key) === held)
              this.keys.delete(held.event.idempotency_key);
          }
        } else {
          kept ??= [];
          kept.push(...session);
        }
        start = i;
      }
      if (kept === undefined) this.users.delete(userId);
      else this.users.set(userId, kept);
    }
  }

  get pending(): boolean {
    return this.dirty;
  }

  take() {
    if (!this.caughtUp) this.finishReplay();
    this.closeSessions(true);
    const files: LayerFile[] = [];
    const first = this.first ?? this.position;
    const last = this.last ?? this.position - 1;
    // Named for the offset range; a commit with no new record (an idle advance closed sessions)
    // is named for the claim and its rank, which no other commit shares.
    const range = `${this.settings.topic}-p${this.claim.partition}-o${String(first).padStart(20, '0')}-${String(last).padStart(20, '0')}`;
    const name =
      this.first === undefined ? `${range}-idle-e${this.claim.epoch}-${++this.idleCommits}` : range;
    for (const [date, rows] of groupBy(this.closedEvents, (e) => utcDate(e.held.ts))) {
      files.push({
        key: `${SILVER_EVENTS_PATH}/date=${date}/${name}.parquet`,
        bytes: encodeEvents(rows, this.claim.partition),
        rows: rows.length,
      });
    }
    for (const [date, rows] of groupBy(this.closedSessions, (s) => utcDate(s.events[0]!.ts))) {
      files.push({
        key: `${SILVER_SESSIONS_PATH}/date=${date}/${name}.parquet`,
        bytes: encodeSessions(rows),
        rows: rows.length,
      });
    }
    for (const [date, rows] of groupBy(this.deadLetters, (d) => utcDate(d.rejectedAtMs * MICROS_PER_MS))) {
      files.push({
        key: `${DEAD_LETTER_PATH}/date=${date}/${name}.parquet`,
        bytes: encodeDeadLetters(rows, this.settings.topic),
        rows: rows.length,
      });
    }
    this.closedEvents = [];
    this.closedSessions = [];
    this.deadLetters = [];
    this.first = undefined;
    this.last = undefined;
    this.dirty = false;
    // Replay from the oldest record still held in an open session, with the watermark it had.
    let replayOffset = this.position;
    let replayMaxTs = this.maxTs;
    let heldMinTs = Number.POSITIVE_INFINITY;
    for (const held of this.keys.values()) {
      if (held.offset < replayOffset) {
        replayOffset = held.offset;
        replayMaxTs = held.maxTsBefore;
      }
      if (held.ts < heldMinTs) heldMinTs = held.ts;
    }
    this.idleMarks = this.idleMarks.filter((m) => m.offset > replayOffset);
    const watermark = this.watermark;
    const state: SilverState = {
      replayMaxTs: Number.isFinite(replayMaxTs) ? replayMaxTs : null,
      idleMarks: this.idleMarks,
      watermark: Number.isFinite(watermark) ? watermark : null,
      heldMinTs: Number.isFinite(heldMinTs) ? heldMinTs : null,
      ...(this.position === 0 ? { empty: true } : {}),
      rules: SILVER_RULES,
      ...(this.legacy.some((l) => replayOffset < l.before)
        ? { legacy: this.legacy.filter((l) => replayOffset < l.before) }
        : {}),
    };
    return { files, replayOffset, state };
  }
}

function groupBy<T>(items: readonly T[], keyOf: (item: T) => string): Map<string, T[]> {
  const out = new Map<string, T[]>();
  for (const item of items) {
    const key = keyOf(item);
    let group = out.get(key);
    if (group === undefined) {
      group = [];
      out.set(key, group);
    }
    group.push(item);
  }
  return out;
}

type Payload = Record<string, unknown>;
const str = (v: unknown): string | null => (typeof v === 'string' ? v : null);
const num = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);
const int = (v: unknown): number | null => (typeof v === 'number' && Number.isInteger(v) ? v : null);

/** The envelope's own fields: any other top-level field of an event is an extra one. */
const ENVELOPE_FIELDS = new Set(Object.keys(CommerceEnvelopeSchema.properties));

/**
 * Silver's payload JSON: the payload, with the event's unknown top-level fields beside its own
 * (SPEC §6.1: unknown extra fields are kept in silver's payload JSON; a payload field of the same
 * name wins). An event without extra fields (nearly all) is its payload as it is.
 */
export function payloadJson(event: CommerceEvent): string {
  let extras: [string, unknown][] | undefined;
  const payload = event.payload as Record<string, unknown>;
  for (const key of Object.keys(event)) {
    if (ENVELOPE_FIELDS.has(key) || Object.hasOwn(payload, key)) continue;
    extras ??= [];
    extras.push([key, (event as unknown as Record<string, unknown>)[key]]);
  }
  // Object.fromEntries and spread define own properties: a `__proto__` field stays a field.
  return JSON.stringify(extras === undefined ? payload : { ...payload, ...Object.fromEntries(extras) });
}

/** The payload fields silver keeps as columns of their own (SPEC §6.3). */
const PAYLOAD_COLUMNS = [
  'page_url',
  'product_id',
  'transaction_id',
  'quantity',
  'unit_price',
  'total_amount',
  'discount_amount',
  'attempted_amount',
  'currency',
  'payment_method',
  'failure_reason',
  'plan_type',
  'signup_source',
  'email',
  'username',
] as const;

/**
 * Each payload column's values (undefined where an event has no such field), in one pass over each
 * payload's own keys: the payloads have a shape per event type, and fetching 15 names from each
 * was ~10 % of a silver batch's CPU. A null-prototype table, so no payload key reaches a prototype.
 */
function payloadColumns(
  events: readonly { payload: unknown }[],
): (name: (typeof PAYLOAD_COLUMNS)[number]) => unknown[] {
  const columns: Record<string, unknown[]> = Object.create(null);
  for (const name of PAYLOAD_COLUMNS) columns[name] = new Array(events.length).fill(undefined);
  for (let i = 0; i < events.length; i++) {
    const payload = events[i]!.payload as Payload;
    for (const key of Object.keys(payload)) {
      const column = columns[key];
      if (column !== undefined) column[i] = payload[key];
    }
  }
  return (name) => columns[name]!;
}

function encodeEvents(rows: readonly { held: Held; sessionId: string }[], partition: number): Uint8Array {
  const e = rows.map((r) => r.held.event);
  const p = payloadColumns(e);
  const columns: Column[] = [
    { name: 'event_id', kind: 'string', values: e.map((x) => x.event_id), unique: true },
    { name: 'idempotency_key', kind: 'string', values: e.map((x) => x.idempotency_key), unique: true },
    { name: 'user_id', kind: 'string', values: e.map((x) => x.user_id), distinct: true, statistics: true },
    { name: 'session_id', kind: 'string', values: rows.map((r) => r.sessionId), distinct: true },
    { name: 'event_type', kind: 'string', values: e.map((x) => x.event_type) },
    { name: 'event_timestamp', kind: 'timestamp', values: rows.map((r) => r.held.ts) },
    { name: 'device_type', kind: 'string', values: e.map((x) => x.device_type) },
    { name: 'ip_address', kind: 'string', values: e.map((x) => x.ip_address), distinct: true },
    { name: 'schema_version', kind: 'string', values: e.map((x) => x.schema_version) },
    { name: 'payload', kind: 'string', values: e.map(payloadJson), unique: true },
    { name: 'page_url', kind: 'string', values: p('page_url').map(str) },
    { name: 'product_id', kind: 'string', values: p('product_id').map(str) },
    { name: 'transaction_id', kind: 'string', values: p('transaction_id').map(str), unique: true },
    { name: 'quantity', kind: 'int32', values: p('quantity').map(int) },
    { name: 'unit_price', kind: 'double', values: p('unit_price').map(num) },
    { name: 'total_amount', kind: 'double', values: p('total_amount').map(num) },
    { name: 'discount_amount', kind: 'double', values: p('discount_amount').map(num) },
    { name: 'attempted_amount', kind: 'double', values: p('attempted_amount').map(num) },
    { name: 'currency', kind: 'string', values: p('currency').map(str) },
    { name: 'payment_method', kind: 'string', values: p('payment_method').map(str) },
    { name: 'failure_reason', kind: 'string', values: p('failure_reason').map(str) },
    { name: 'plan_type', kind: 'string', values: p('plan_type').map(str) },
    { name: 'signup_source', kind: 'string', values: p('signup_source').map(str) },
    { name: 'email', kind: 'string', values: p('email').map(str), unique: true },
    { name: 'username', kind: 'string', values: p('username').map(str), unique: true },
    { name: 'source_partition', kind: 'int32', values: rows.map(() => partition) },
    { name: 'source_offset', kind: 'int64', values: rows.map((r) => r.held.offset) },
  ];
  return encodeParquet(columns);
}

function encodeSessions(
  sessions: readonly { sessionId: string; userId: string; events: Held[] }[],
): Uint8Array {
  const count = (s: { events: Held[] }, type: string) =>
    s.events.filter((h) => h.event.event_type === type).length;
  const revenue = (s: { events: Held[] }) =>
    Math.round(
      s.events.reduce((sum, h) => {
        if (h.event.event_type !== 'purchase') return sum;
        const p = h.event.payload as Payload;
        return sum + (num(p.total_amount) ?? 0) * usdRate(str(p.currency) ?? 'USD');
      }, 0) * 100,
    ) / 100;
  const columns: Column[] = [
    { name: 'session_id', kind: 'string', values: sessions.map((s) => s.sessionId), unique: true },
    {
      name: 'user_id',
      kind: 'string',
      values: sessions.map((s) => s.userId),
      distinct: true,
      statistics: true,
    },
    { name: 'session_start', kind: 'timestamp', values: sessions.map((s) => s.events[0]!.ts) },
    {
      name: 'session_end',
      kind: 'timestamp',
      values: sessions.map((s) => s.events[s.events.length - 1]!.ts),
    },
    { name: 'event_count', kind: 'int32', values: sessions.map((s) => s.events.length) },
    { name: 'page_views', kind: 'int32', values: sessions.map((s) => count(s, 'page_view')) },
    { name: 'purchases', kind: 'int32', values: sessions.map((s) => count(s, 'purchase')) },
    { name: 'payment_failures', kind: 'int32', values: sessions.map((s) => count(s, 'payment_failed')) },
    { name: 'signups', kind: 'int32', values: sessions.map((s) => count(s, 'user_signup')) },
    { name: 'revenue_usd', kind: 'double', values: sessions.map(revenue) },
    {
      name: 'event_types',
      kind: 'string',
      values: sessions.map((s) => s.events.map((h) => h.event.event_type).join(',')),
    },
    {
      name: 'first_device_type',
      kind: 'string',
      values: sessions.map((s) => s.events[0]!.event.device_type),
    },
    {
      name: 'first_event_id',
      kind: 'string',
      values: sessions.map((s) => s.events[0]!.event.event_id),
      unique: true,
    },
    {
      name: 'duration_seconds',
      kind: 'double',
      values: sessions.map((s) => (s.events[s.events.length - 1]!.ts - s.events[0]!.ts) / 1_000_000),
    },
  ];
  return encodeParquet(columns);
}

function encodeDeadLetters(rows: readonly DeadLetter[], topic: string): Uint8Array {
  const columns: Column[] = [
    { name: 'topic', kind: 'string', values: rows.map(() => topic) },
    { name: 'partition', kind: 'int32', values: rows.map((d) => d.record.partition) },
    { name: 'offset', kind: 'int64', values: rows.map((d) => d.record.offset) },
    { name: 'reason', kind: 'string', values: rows.map((d) => d.reason) },
    {
      name: 'detail',
      kind: 'string',
      values: rows.map((d) => (d.detail.isWellFormed() ? d.detail : d.detail.toWellFormed())),
    },
    { name: 'raw_value', kind: 'bytes', values: rows.map((d) => d.record.value) },
    {
      name: 'kafka_key',
      kind: 'string',
      values: rows.map((d) => (d.record.key?.isWellFormed() ? d.record.key : null)),
    },
    {
      name: 'broker_timestamp',
      kind: 'timestamp',
      values: rows.map((d) => d.record.timestamp * MICROS_PER_MS),
    },
    { name: 'rejected_at', kind: 'timestamp', values: rows.map((d) => d.rejectedAtMs * MICROS_PER_MS) },
  ];
  return encodeParquet(columns);
}

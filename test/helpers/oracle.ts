/**
 * The test oracle: a plain batch computation of docs/semantics.md over all records of a partition, written
 * independently of the engine (no incremental state, no compaction, no replay). The engine's
 * tables must equal this, whatever the batch sizes, crash points and restarts.
 */
import { parseStreamEvent } from '../../src/events/stream-event.ts';

export interface OracleRecord {
  offset: number;
  value: Buffer | string;
  /** Log append time, ms. */
  timestamp: number;
}

export interface OracleWindow {
  window_start: string;
  stream_id: string;
  active_viewers: number;
  chat_messages: number;
  donations_usd: string;
  donation_count: number;
  viewer_joins: number;
  viewer_leaves: number;
  events: number;
  is_final: boolean;
}

export interface OracleResult {
  windows: OracleWindow[];
  state: { stream_id: string; active_viewers: number; last_event_at: string }[];
  deadLetters: { offset: number; reason: string }[];
}

interface Accepted {
  id: string;
  ts: number; // µs
  type: string;
  stream: string;
  user: string;
  amount: number;
}

const MINUTE = 60_000_000;

export function oracle(
  records: readonly OracleRecord[],
  opts: { watermarkDelayMs: number; maxFutureSkewMs: number },
): OracleResult {
  const delay = opts.watermarkDelayMs * 1000;
  let maxTs = Number.NEGATIVE_INFINITY;
  const seen = new Set<string>();
  const accepted: Accepted[] = [];
  const deadLetters: { offset: number; reason: string }[] = [];
  for (const r of records) {
    const parsed = parseStreamEvent(r.value);
    if (!parsed.ok) {
      deadLetters.push({ offset: r.offset, reason: parsed.reason });
      continue;
    }
    const { event, tsMicros } = parsed.value;
    if (tsMicros > (r.timestamp + opts.maxFutureSkewMs) * 1000) {
      deadLetters.push({ offset: r.offset, reason: 'future_ts' });
      continue;
    }
    if (tsMicros < maxTs - delay) {
      deadLetters.push({ offset: r.offset, reason: 'late' });
      continue;
    }
    if (seen.has(event.event_id)) continue;
    seen.add(event.event_id);
    maxTs = Math.max(maxTs, tsMicros);
    accepted.push({
      id: event.event_id,
      ts: tsMicros,
      type: event.event_type,
      stream: event.stream_id,
      user: event.user_id,
      amount: Math.round((event.amount_usd ?? 0) * 1e6),
    });
  }
  const watermark = maxTs - delay;
  const byStream = new Map<string, Accepted[]>();
  for (const e of accepted) {
    const list = byStream.get(e.stream) ?? [];
    list.push(e);
    byStream.set(e.stream, list);
  }
  const windows: OracleWindow[] = [];
  const state: OracleResult['state'] = [];
  for (const [stream, events] of byStream) {
    events.sort((a, b) => a.ts - b.ts || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    const minutes = new Map<number, Accepted[]>();
    for (const e of events) {
      const m = Math.floor(e.ts / MINUTE) * MINUTE;
      const list = minutes.get(m) ?? [];
      list.push(e);
      minutes.set(m, list);
    }
    // Walk the stream's events in event-time order, reading the present set at each window end.
    const present = new Set<string>();
    let i = 0;
    for (const m of [...minutes.keys()].sort((a, b) => a - b)) {
      const end = m + MINUTE;
      while (i < events.length && events[i]!.ts < end) {
        const e = events[i++]!;
        if (e.type === 'viewer_join') present.add(e.user);
        else if (e.type === 'viewer_leave') present.delete(e.user);
        else if (e.type === 'stream_stop') present.clear();
      }
      const list = minutes.get(m)!;
      const donations = list.filter((e) => e.type === 'donation');
      windows.push({
        window_start: new Date(m / 1000).toISOString(),
        stream_id: stream,
        active_viewers: present.size,
        chat_messages: list.filter((e) => e.type === 'chat_message').length,
        donations_usd: microsToDecimal(donations.reduce((s, e) => s + e.amount, 0)),
        donation_count: donations.length,
        viewer_joins: list.filter((e) => e.type === 'viewer_join').length,
        viewer_leaves: list.filter((e) => e.type === 'viewer_leave').length,
        events: list.length,
        is_final: end <= watermark,
      });
    }
    while (i < events.length) {
      const e = events[i++]!;
      if (e.type === 'viewer_join') present.add(e.user);
      else if (e.type === 'viewer_leave') present.delete(e.user);
      else if (e.type === 'stream_stop') present.clear();
    }
    state.push({
      stream_id: stream,
      active_viewers: present.size,
      last_event_at: new Date(Math.floor(events[events.length - 1]!.ts / 1000)).toISOString(),
    });
  }
  windows.sort(compareWindows);
  state.sort((a, b) => (a.stream_id < b.stream_id ? -1 : 1));
  return { windows, state, deadLetters };
}

export function compareWindows(a: { window_start: string; stream_id: string }, b: typeof a): number {
  if (a.window_start !== b.window_start) return a.window_start < b.window_start ? -1 : 1;
  return a.stream_id < b.stream_id ? -1 : a.stream_id > b.stream_id ? 1 : 0;
}

function microsToDecimal(micros: number): string {
  const whole = Math.floor(micros / 1e6);
  return `${whole}.${String(micros - whole * 1e6).padStart(6, '0')}`;
}

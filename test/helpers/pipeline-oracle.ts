/**
 * The end-of-test check shared by the pipeline tests: read every record of the topic back, compute
 * the batch oracle per partition, and compare it with what the processors committed.
 */
import assert from 'node:assert/strict';
import type pg from 'pg';
import type { Bus, BusRecord } from '../../src/bus/types.ts';
import { microsToDecimal } from '../../src/realtime/serving/index.ts';
import { compareWindows, type OracleWindow, oracle } from './oracle.ts';

/** Every record of `topic`, read with a throwaway consumer. */
export async function readAllRecords(bus: Bus, topic: string): Promise<BusRecord[]> {
  const source = bus.source({ topic, group: `reader-${process.pid}-${Date.now()}`, maxBatch: 10_000 });
  const ends = await source.endOffsets();
  const total = [...ends.values()].reduce((a, b) => a + b, 0);
  const out: BusRecord[] = [];
  if (total === 0) return out;
  await new Promise<void>((resolve, reject) => {
    source
      .start({
        assigned: async (parts) => new Map(parts.map((p) => [p, 0])),
        revoked: async () => {},
        records: async (batch) => {
          out.push(...batch);
          if (out.length >= total) resolve();
        },
      })
      .catch(reject);
  });
  await source.stop();
  return out;
}

/** Waits until the committed offsets reach the end of every partition. */
export async function waitCommittedToEnd(
  pool: pg.Pool,
  bus: Bus,
  topic: string,
  deadlineMs = 60_000,
): Promise<void> {
  const ends = await bus.source({ topic, group: `probe-${process.pid}` }).endOffsets();
  const deadline = Date.now() + deadlineMs;
  for (;;) {
    const { rows } = await pool
      .query<{ partition: number; committed_offset: number }>(
        'SELECT partition, committed_offset FROM processor_partitions WHERE topic = $1',
        [topic],
      )
      .catch(() => ({ rows: [] as { partition: number; committed_offset: number }[] }));
    const at = new Map(rows.map((r) => [r.partition, r.committed_offset]));
    if ([...ends].every(([p, end]) => (at.get(p) ?? 0) >= end)) return;
    assert.ok(
      Date.now() < deadline,
      `processors did not catch up: committed ${JSON.stringify([...at])} of ${JSON.stringify([...ends])}`,
    );
    await new Promise((r) => setTimeout(r, 25));
  }
}

export interface OracleSettings {
  watermarkDelayMs: number;
  maxFutureSkewMs: number;
}

/**
 * Asserts stream_metrics_minute, stream_state and dead_letter_events equal the oracle over
 * `records` (computed per partition, as the processors compute them). Returns the expected
 * windows so callers can add their own checks.
 */
export async function assertTablesMatchOracle(
  pool: pg.Pool,
  records: readonly BusRecord[],
  settings: OracleSettings,
): Promise<OracleWindow[]> {
  const windows: OracleWindow[] = [];
  const state: { stream_id: string; active_viewers: number; last_event_at: string }[] = [];
  const dead: { partition: number; offset: number; reason: string }[] = [];
  for (const p of new Set(records.map((r) => r.partition))) {
    const mine = records.filter((r) => r.partition === p).sort((a, b) => a.offset - b.offset);
    const o = oracle(mine, settings);
    windows.push(...o.windows);
    state.push(...o.state);
    dead.push(...o.deadLetters.map((d) => ({ partition: p, offset: d.offset, reason: d.reason })));
  }
  const actualWindows = (
    await pool.query(
      `SELECT window_start, stream_id, active_viewers, chat_messages, donations_usd::text AS donations_usd,
              donation_count, viewer_joins, viewer_leaves, events, is_final FROM stream_metrics_minute`,
    )
  ).rows.map((r) => ({ ...r, window_start: (r.window_start as Date).toISOString() }));
  assert.deepEqual(actualWindows.sort(compareWindows), windows.sort(compareWindows));
  await assertSummariesMatchWindows(pool, windows);
  const byStream = (a: { stream_id: string }, b: { stream_id: string }) =>
    a.stream_id < b.stream_id ? -1 : 1;
  const actualState = (
    await pool.query('SELECT stream_id, active_viewers, last_event_at FROM stream_state')
  ).rows.map((r) => ({ ...r, last_event_at: (r.last_event_at as Date).toISOString() }));
  assert.deepEqual(actualState.sort(byStream), state.sort(byStream));
  const byPosition = (a: { partition: number; offset: number }, b: typeof a) =>
    a.partition - b.partition || a.offset - b.offset;
  const actualDead = (
    await pool.query('SELECT partition, "offset", reason FROM dead_letter_events WHERE partition IS NOT NULL')
  ).rows;
  assert.deepEqual(actualDead.sort(byPosition), dead.sort(byPosition), 'each dead letter written once');
  return windows;
}

/**
 * The read summaries the results writer keeps beside the windows (migration 006) equal a plain
 * computation from the expected windows: each window's running totals (sums of its stream's
 * windows up to and including it) and each stream's newest window.
 */
export async function assertSummariesMatchWindows(
  pool: pg.Pool,
  windows: readonly Pick<
    OracleWindow,
    'window_start' | 'stream_id' | 'chat_messages' | 'donations_usd' | 'active_viewers'
  >[],
): Promise<void> {
  const micros = (usd: string) => BigInt(usd.replace('.', ''));
  const ordered = [...windows].sort((a, b) =>
    a.stream_id === b.stream_id
      ? a.window_start.localeCompare(b.window_start)
      : a.stream_id < b.stream_id
        ? -1
        : 1,
  );
  const totals: string[] = [];
  const latest = new Map<string, string>();
  let stream = '';
  let donations = 0n;
  let chat = 0;
  let count = 0;
  for (const w of ordered) {
    if (w.stream_id !== stream) [stream, donations, chat, count] = [w.stream_id, 0n, 0, 0];
    donations += micros(w.donations_usd);
    chat += w.chat_messages;
    count += 1;
    const row = `${w.window_start}|${w.stream_id}|${microsToDecimal(donations)}|${chat}|${count}`;
    totals.push(row);
    latest.set(
      w.stream_id,
      `${w.stream_id}|${w.window_start}|${w.active_viewers}|${w.chat_messages}|${w.donations_usd}|${microsToDecimal(donations)}|${chat}|${count}`,
    );
  }
  const actualTotals = (
    await pool.query<{ r: string }>(
      `SELECT to_char(window_start AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') || '|' || stream_id || '|' ||
              cum_donations_usd || '|' || cum_chat_messages || '|' || cum_windows AS r
         FROM stream_metrics_minute ORDER BY stream_id, window_start`,
    )
  ).rows.map((r) => r.r);
  assert.deepEqual(actualTotals.sort(), totals.sort(), 'running totals of every window');
  const actualLatest = (
    await pool.query<{ r: string }>(
      `SELECT stream_id || '|' || to_char(window_start AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') || '|' ||
              active_viewers || '|' || chat_messages || '|' || donations_usd || '|' || cum_donations_usd || '|' ||
              cum_chat_messages || '|' || cum_windows AS r
         FROM stream_latest_window ORDER BY stream_id`,
    )
  ).rows.map((r) => r.r);
  assert.deepEqual(actualLatest.sort(), [...latest.values()].sort(), "each stream's newest window");
}

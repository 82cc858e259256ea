/**
 * fast-check arbitraries for live-stream event sequences: out-of-order arrival inside the
 * allowed delay, duplicates, stop/start, late events and invalid lines.
 */
import fc from 'fast-check';
import type { OracleRecord } from './oracle.ts';

export const BASE_MS = Date.parse('2026-03-01T12:00:00Z');

export interface GenOptions {
  maxEvents: number;
  minEvents?: number;
  /** Allowed delay used by the engine, ms. Out-of-order jitter stays inside it (plus a few late ones). */
  watermarkDelayMs: number;
}

const TYPES = [
  'viewer_join',
  'viewer_join',
  'viewer_leave',
  'chat_message',
  'donation',
  'stream_stop',
  'stream_start',
];

export function recordsArbitrary(opts: GenOptions): fc.Arbitrary<OracleRecord[]> {
  const event = fc.record({
    stream: fc.integer({ min: 1, max: 3 }),
    user: fc.integer({ min: 1, max: 5 }),
    type: fc.constantFrom(...TYPES),
    step: fc.integer({ min: 0, max: 40_000 }), // ms the clock moves forward
    jitter: fc.integer({ min: 0, max: opts.watermarkDelayMs }), // how far back this event is stamped
    micros: fc.integer({ min: 0, max: 999 }),
    amountCents: fc.integer({ min: 0, max: 100_000 }),
    kind: fc.constantFrom('ok', 'ok', 'ok', 'ok', 'ok', 'ok', 'ok', 'ok', 'dup', 'late', 'bad'),
  });
  return fc
    .array(event, { minLength: opts.minEvents ?? 1, maxLength: opts.maxEvents, size: 'max' })
    .map((specs) => {
      const out: OracleRecord[] = [];
      const sent: string[] = [];
      let clock = BASE_MS;
      for (const [i, s] of specs.entries()) {
        clock += s.step;
        let value: string;
        if (s.kind === 'dup' && sent.length > 0) {
          value = sent[(i * 7919) % sent.length]!;
        } else if (s.kind === 'bad') {
          value = i % 2 === 0 ? '{"event_id":' : JSON.stringify({ event_id: `e${i}`, ts: 'yesterday' });
        } else {
          const back = s.kind === 'late' ? opts.watermarkDelayMs * 3 : s.jitter;
          const ts = new Date(clock - back)
            .toISOString()
            .replace('Z', `${String(s.micros).padStart(3, '0')}Z`);
          const e: Record<string, unknown> = {
            event_id: `e${i}`,
            ts,
            event_type: s.type,
            stream_id: `stream_${s.stream}`,
            user_id: `user_${s.user}`,
          };
          if (s.type === 'donation') e.amount_usd = s.amountCents / 100;
          if (s.type === 'chat_message') e.message_len = 10;
          value = JSON.stringify(e);
          sent.push(value);
        }
        out.push({ offset: i, value, timestamp: clock });
      }
      return out;
    });
}

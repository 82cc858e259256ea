/**
 * The commerce contract on the hot path: events/s of parseCommerceEvent (UTF-8 check, JSON.parse,
 * envelope and payload checks, timestamp to UTC microseconds) on generated events with the seed's
 * 1 % bad data, next to JSON.parse alone (the floor: no validator can be faster than decoding).
 * `npm run bench -- lake-parse` (200,000 events, parsed 5 times; `--events N` for another size).
 */
import { parseCommerceEvent } from '../src/events/commerce-event.ts';
import { createCommerceHistory } from '../src/generator/commerce/index.ts';
import type { BenchOptions } from './options.ts';

const DEFAULT_EVENTS = 200_000;
const ROUNDS = 5;

export async function runLakeParse(options: BenchOptions): Promise<Record<string, unknown>> {
  const events = process.argv.some((a) => a.startsWith('--events')) ? options.events : DEFAULT_EVENTS;
  const values = createCommerceHistory({
    seed: 42,
    users: 10_000,
    from: '2025-12-01',
    to: '2025-12-10',
    eventsPerDay: Math.ceil(events / 10),
  })
    .take(events)
    .map((m) => m.value);
  const bytes = values.reduce((n, v) => n + v.length, 0);
  const measure = (fn: (value: Buffer) => unknown): number => {
    for (const v of values.slice(0, 20_000)) fn(v); // warm up
    const t0 = performance.now();
    for (let r = 0; r < ROUNDS; r++) for (const v of values) fn(v);
    return (values.length * ROUNDS) / ((performance.now() - t0) / 1_000);
  };
  let valid = 0;
  for (const v of values) if (parseCommerceEvent(v).ok) valid++;
  const jsonOnly = measure((v) => {
    try {
      return JSON.parse(v.toString('utf8'));
    } catch {
      return undefined; // the seed's malformed_json events
    }
  });
  const contract = measure((v) => parseCommerceEvent(v));
  console.log(
    `${events} events (${(bytes / events).toFixed(0)} bytes each, ${valid} valid): parseCommerceEvent ` +
      `${Math.round(contract)}/s, JSON.parse alone ${Math.round(jsonOnly)}/s`,
  );
  return {
    events,
    valid,
    mean_event_bytes: Math.round(bytes / events),
    parse_events_per_s: Math.round(contract),
    parse_mib_per_s: Number(((contract * bytes) / events / 2 ** 20).toFixed(1)),
    json_parse_only_events_per_s: Math.round(jsonOnly),
    contract_share_of_json_parse: Number((jsonOnly / contract).toFixed(2)),
    setup: `one thread; ${ROUNDS} rounds over the same generated events (1 % bad data, 10,000 users)`,
  };
}

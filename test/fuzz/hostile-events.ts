/**
 * fast-check arbitraries of hostile live-stream events for the fuzz suite (issue 11). Each generated
 * line says by construction whether the edge must accept it (`valid`), independently of the
 * validation code under test: boundary timestamps and offsets, every Unicode oddity (lone
 * surrogates, non-characters, NUL, normalization twins), huge and tiny numbers, deep nesting and
 * skewed clocks.
 */
import fc from 'fast-check';

export interface HostileLine {
  /** The raw NDJSON line (may hold escapes JSON.stringify would never write). */
  line: string;
  /** True when the event must be accepted and counted once. */
  valid: boolean;
  /** For a valid event: its stream. */
  stream?: string;
  /** What it tries (for failure messages). */
  kind: string;
}

const TYPES = ['stream_start', 'stream_stop', 'viewer_join', 'viewer_leave', 'chat_message'] as const;

/** Well-formed oddities that must be kept apart, never merged: non-characters, twins, astral, RTL. */
const ODD_BUT_WELL_FORMED = [
  '\ufffe',
  '\uffff',
  '\ufdd0',
  '\u{10ffff}',
  'caf\u00e9', // é composed
  'cafe\u0301', // é decomposed: a normalization twin of the one above
  '\u212b', // Angstrom sign, NFC twin of Å
  '\u00c5',
  '\ud83d\ude00', // an emoji: a surrogate pair, well-formed
  '\u202eevil',
  ' ',
  '\\',
  '"quoted"',
  'x'.repeat(200),
];

/** JSON escapes that decode to text Postgres cannot hold or would change. */
const UNSTORABLE_ESCAPES = ['\\ud800', '\\udbff', '\\udc00', 'a\\udfffb', '\\u0000', 'x\\u0000'];

const two = (n: number) => String(n).padStart(2, '0');

/** An ISO timestamp of `ms` written with the given offset (minutes) and fraction digits. */
export function isoWithOffset(ms: number, offsetMinutes: number, fractionDigits: number): string {
  const local = new Date(ms + offsetMinutes * 60_000);
  const base = local.toISOString().slice(0, 19);
  const micros = String((ms % 1000) * 1000 + 123).padStart(6, '0');
  const fraction = fractionDigits === 0 ? '' : `.${micros.padEnd(9, '7').slice(0, fractionDigits)}`;
  if (offsetMinutes === 0 && fractionDigits % 2 === 0) return `${base}${fraction}Z`;
  const sign = offsetMinutes < 0 ? '-' : '+';
  const abs = Math.abs(offsetMinutes);
  return `${base}${fraction}${sign}${two(Math.floor(abs / 60))}:${two(abs % 60)}`;
}

const BAD_TIMESTAMPS = [
  '0000-01-01T00:00:00Z',
  '0001-01-01T00:30:00+01:00',
  '1969-12-31T23:59:59.999999Z',
  '1970-01-01T00:30:00+01:00',
  '2200-01-01T00:00:00Z',
  '2199-12-31T23:59:59-23:59',
  '9999-12-31T23:59:59.999999Z',
  '2026-02-29T00:00:00Z',
  '2026-01-01T24:00:00Z',
  '2026-01-01T00:00:60Z',
  '2026-01-01T00:00:00',
  '2026-01-01T00:00:00\\u0000Z',
  '2026-01-01T00:00:00.0000000000Z',
  '+02026-01-01T00:00:00Z',
];

export interface HostileOptions {
  /** Wall clock at generation (ms). */
  now: number;
  /** Allowed future skew (ms): valid events stay inside it. */
  skewMs: number;
  /** A prefix making ids unique to this run. */
  run: string;
}

/** One line, valid or hostile, with its verdict. */
export function hostileLine(o: HostileOptions, index: number): fc.Arbitrary<HostileLine> {
  const id = `${o.run}-${index}`;
  const base = (stream: string, ts: string, type: string = 'chat_message') =>
    `{"event_id":${JSON.stringify(id)},"ts":${JSON.stringify(ts)},"event_type":"${type}","stream_id":${stream},"user_id":"u${index % 7}"`;
  const recentTs = fc
    .record({
      back: fc.integer({ min: 0, max: 60_000 }),
      offset: fc.constantFrom(0, 0, 60, -300, 330, -720, 840, 23 * 60 + 59, -(23 * 60 + 59)),
      digits: fc.integer({ min: 0, max: 9 }),
    })
    .map(({ back, offset, digits }) => isoWithOffset(o.now - back, offset, digits));
  const oddStream = fc.constantFrom(...ODD_BUT_WELL_FORMED).map((s) => `${o.run}|${s}`);

  const valid: fc.Arbitrary<HostileLine> = fc
    .record({
      stream: fc.oneof(
        oddStream,
        fc.constant(`${o.run}|plain`),
        fc.string({ unit: 'grapheme', maxLength: 20 }).map((s) => `${o.run}|${s}`),
      ),
      ts: recentTs,
      type: fc.constantFrom(...TYPES),
      extra: fc.constantFrom(
        '',
        ',"nested":' + '['.repeat(3000) + ']'.repeat(3000),
        ',"big":1e308,"tiny":5e-324,"neg":-0',
        ',"message_len":null,"amount_usd":null',
        ',"odd":"\\ud800 stays in a field nobody stores"',
      ),
    })
    .filter(({ stream }) => stream.isWellFormed() && !stream.includes('\u0000'))
    .map(({ stream, ts, type, extra }) => ({
      line: `${base(JSON.stringify(stream), ts, type)}${extra}}`,
      valid: true,
      stream,
      kind: `valid ${type}${extra === '' ? '' : ' with extras'}`,
    }));

  const donation: fc.Arbitrary<HostileLine> = fc
    .record({
      ts: recentTs,
      amount: fc.constantFrom('0', '5e-324', '0.000001', '1e-7', '999999.999999', '1000000', '1e6', '12.5'),
    })
    .map(({ ts, amount }) => ({
      line: `${base(JSON.stringify(`${o.run}|money`), ts, 'donation')},"amount_usd":${amount}}`,
      valid: true,
      stream: `${o.run}|money`,
      kind: `donation of ${amount}`,
    }));

  const skewedValid: fc.Arbitrary<HostileLine> = fc
    .integer({ min: 1_000, max: o.skewMs - 30_000 })
    .map((ahead) => ({
      line: `${base(JSON.stringify(`${o.run}|ahead`), new Date(o.now + ahead).toISOString())}}`,
      valid: true,
      stream: `${o.run}|ahead`,
      kind: `clock ${ahead} ms ahead (inside the skew)`,
    }));

  const invalid: fc.Arbitrary<HostileLine> = fc.oneof(
    fc.constantFrom(...BAD_TIMESTAMPS).map((ts) => ({
      line: `${base(JSON.stringify(`${o.run}|bad-ts`), ts)}}`.replace(JSON.stringify(ts), `"${ts}"`),
      valid: false,
      kind: `timestamp ${ts}`,
    })),
    fc.constantFrom(...UNSTORABLE_ESCAPES).map((esc) => ({
      line: `${base(`"${o.run}|sur-${esc}"`, new Date(o.now).toISOString())}}`,
      valid: false,
      kind: `stream_id escape ${esc}`,
    })),
    fc.constantFrom(...UNSTORABLE_ESCAPES).map((esc) => ({
      line: `${base(JSON.stringify(`${o.run}|u`), new Date(o.now).toISOString(), 'viewer_join')}}`.replace(
        /"user_id":"u\d+"/,
        `"user_id":"u${esc}"`,
      ),
      valid: false,
      kind: `user_id escape ${esc}`,
    })),
    fc
      .constantFrom('1e309', '-1', '1000000.000001', '"5"', 'NaN', 'Infinity', '-1e309', 'null')
      .map((amount) => ({
        line: `${base(JSON.stringify(`${o.run}|bad-money`), new Date(o.now).toISOString(), 'donation')},"amount_usd":${amount}}`,
        valid: false,
        kind: `donation amount ${amount}`,
      })),
    fc.integer({ min: o.skewMs + 60_000, max: 86_400_000 }).map((ahead) => ({
      line: `${base(JSON.stringify(`${o.run}|future`), new Date(o.now + ahead).toISOString())}}`,
      valid: false,
      kind: `clock ${ahead} ms ahead (beyond the skew)`,
    })),
    fc
      .constantFrom(
        '{}',
        '[]',
        'null',
        '"text"',
        '{"event_id":',
        '[{"a":1}]',
        '['.repeat(5000) + ']'.repeat(5000),
        '{"event_id":"x","ts":"2026-01-01T00:00:00Z","event_type":"teleport","stream_id":"s","user_id":"u"}',
        `{"event_id":"","ts":"${new Date(o.now).toISOString()}","event_type":"chat_message","stream_id":"s","user_id":"u"}`,
        `{"event_id":"${'i'.repeat(257)}","ts":"${new Date(o.now).toISOString()}","event_type":"chat_message","stream_id":"s","user_id":"u"}`,
        `{"padding":"${'p'.repeat(17_000)}"}`,
        // An event_type whose String() throws, and one whose String() recurses 5,000 deep.
        `{"event_id":"x","ts":"${new Date(o.now).toISOString()}","event_type":{"toString":"x"},"stream_id":"s","user_id":"u"}`,
        `{"event_id":"x","ts":"${new Date(o.now).toISOString()}","event_type":${'['.repeat(5000)}${']'.repeat(5000)},"stream_id":"s","user_id":"u"}`,
      )
      .map((line) => ({ line, valid: false, kind: `malformed ${line.slice(0, 30)}` })),
  );

  return fc.oneof(
    { arbitrary: valid, weight: 4 },
    { arbitrary: donation, weight: 1 },
    { arbitrary: skewedValid, weight: 1 },
    { arbitrary: invalid, weight: 4 },
  );
}

/** A batch of lines for one request. */
export function hostileBatch(o: HostileOptions, maxLines: number): fc.Arbitrary<HostileLine[]> {
  return fc
    .integer({ min: 1, max: maxLines })
    .chain((n) => fc.tuple(...Array.from({ length: n }, (_, i) => hostileLine(o, i))));
}

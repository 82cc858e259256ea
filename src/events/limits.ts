/**
 * What the database can represent, checked at the edge so that nothing a client sends can make a
 * commit fail later (a poison pill: the record stays in the log, so every restart would fail again).
 * Shared by every event schema (live-stream events now, commerce events of system B as it lands):
 *
 * - event times must lie in [EVENT_TIME_MIN, EVENT_TIME_MAX) once any offset is applied: inside
 *   Postgres' timestamptz range, and small enough that microseconds since the epoch stay exact
 *   integers in a double (2^53 µs is about the year 2255);
 * - stored or keyed text must be well-formed Unicode without NUL. A lone surrogate (`"\ud800"` in
 *   JSON) is a distinct string in memory but becomes U+FFFD on the way to Postgres, so two
 *   different ids would collide there; Postgres text cannot hold NUL at all.
 *
 * Dead letters echo hostile input: `storableText` and `storableTime` make any value writable.
 */
import { MICROS_PER_MS } from './timestamp.ts';

/** 1970-01-01T00:00:00Z, the earliest event time accepted (inclusive), in µs since the epoch. */
export const EVENT_TIME_MIN_MICROS = 0;
/** 2200-01-01T00:00:00Z, the first event time refused, in µs since the epoch. */
export const EVENT_TIME_MAX_MICROS = Date.UTC(2200, 0, 1) * MICROS_PER_MS;

export const EVENT_TIME_RANGE_TEXT = '1970-01-01T00:00:00Z (inclusive) to 2200-01-01T00:00:00Z (exclusive)';

export function isEventTimeInRange(micros: number): boolean {
  return Number.isSafeInteger(micros) && micros >= EVENT_TIME_MIN_MICROS && micros < EVENT_TIME_MAX_MICROS;
}

/** Why `text` cannot be stored or used as a key, or undefined when it can. */
export function unstorableTextReason(text: string): string | undefined {
  if (text.includes('\u0000')) return 'contains a NUL character';
  if (!text.isWellFormed()) return 'is not well-formed Unicode (a lone surrogate such as \\ud800)';
  return undefined;
}

/** Any text made writable to a Postgres text column: lone surrogates and NUL become U+FFFD. */
export function storableText(text: string): string {
  const wellFormed = text.isWellFormed() ? text : text.toWellFormed();
  return wellFormed.includes('\u0000') ? wellFormed.replaceAll('\u0000', '\uFFFD') : wellFormed;
}

/** An event time (µs) for a timestamptz column, or null when it is outside the supported range. */
export function storableTime(micros: number | undefined): number | null {
  return micros !== undefined && isEventTimeInRange(micros) ? micros : null;
}

/** The deepest nesting of arrays and objects an event may have, its unknown fields included. */
export const MAX_JSON_DEPTH = 64;

/**
 * The path (`payload.extra[0][0]…`) of the first value nested deeper than MAX_JSON_DEPTH in a
 * decoded JSON value, or undefined. JSON.parse takes a document nested 100,000 deep, but
 * JSON.stringify and every recursive walk after it overflow the stack on one (a poison pill: kept
 * in the log, it would stop the lake writer at every restart). Iterative, so it cannot overflow
 * itself, and it stops at the first value too deep.
 */
export function tooDeepPath(value: unknown, max = MAX_JSON_DEPTH): string | undefined {
  type Frame = { value: unknown; depth: number; parent: Frame | undefined; key: string | number };
  const stack: Frame[] = [{ value, depth: 0, parent: undefined, key: '' }];
  for (let frame = stack.pop(); frame !== undefined; frame = stack.pop()) {
    const v = frame.value;
    if (typeof v !== 'object' || v === null) continue;
    if (frame.depth >= max) return pathOf(frame);
    if (Array.isArray(v)) {
      for (let i = v.length - 1; i >= 0; i--) {
        stack.push({ value: v[i], depth: frame.depth + 1, parent: frame, key: i });
      }
    } else {
      for (const key of Object.keys(v)) {
        stack.push({
          value: (v as Record<string, unknown>)[key],
          depth: frame.depth + 1,
          parent: frame,
          key,
        });
      }
    }
  }
  return undefined;
}

function pathOf(frame: { parent: typeof frame | undefined; key: string | number }): string {
  const keys: (string | number)[] = [];
  for (let f: typeof frame | undefined = frame; f?.parent !== undefined; f = f.parent) keys.push(f.key);
  let path = '';
  for (const key of keys.reverse()) {
    path += typeof key === 'number' ? `[${key}]` : path === '' ? key : `.${key}`;
  }
  return path;
}

/**
 * A value of hostile input, fit for an error message: text (cut at 64 characters), a number,
 * true/false/null as they are; an array or an object by its kind only (String() of one can throw,
 * or recurse without end).
 */
export function shownValue(value: unknown): string {
  if (typeof value === 'string') return value.length > 64 ? `${value.slice(0, 61)}...` : value;
  if (Array.isArray(value)) return 'an array';
  if (value === null) return 'null';
  if (typeof value === 'object') return 'an object';
  return String(value);
}

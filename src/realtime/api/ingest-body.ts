/**
 * POST /events bodies, split into events to append and events to refuse. Validation is the event
 * schema module's (`parseStreamEvent` on each raw line, `validateStreamEvent` on each array
 * element); this module only frames the body, numbers the lines and keeps what a dead letter needs.
 */
import { isUtf8 } from 'node:buffer';
import type { OutgoingMessage } from '../../bus/index.ts';
import {
  isEventTimeInRange,
  MAX_EVENT_BYTES,
  MAX_ID_LENGTH,
  type ParseResult,
  parseStreamEvent,
  parseTimestampMicros,
  isCommerceShaped,
  unstorableTextReason,
} from '../../events/index.ts';
import {
  type CommerceParseResult,
  parseCommerceEvent,
  validateCommerceEvent,
} from '../../events/commerce-event.ts';
import { ApiError } from '../../http/errors.ts';
import type { DeadLetter } from '../serving/index.ts';
import { jsonArrayElements } from './json-array-elements.ts';

/** Largest request body; a larger one is refused with 413 before it is read to the end. */
export const MAX_BODY_BYTES = 8 * 1024 * 1024;
/** Most events (non-blank lines or array elements) in one request: bounds the work and the DLQ rows a request makes. */
export const MAX_EVENTS_PER_REQUEST = 100_000;

export type IngestFormat = 'json' | 'ndjson';

/** `application/json`: one event or an array; `application/x-ndjson` and `text/plain`: one event a line. */
export function ingestFormat(contentType: string | undefined): IngestFormat {
  const type = (contentType ?? '').split(';')[0]?.trim().toLowerCase();
  return type === 'application/json' ? 'json' : 'ndjson';
}

export interface Rejection extends Omit<DeadLetter, 'source' | 'partition' | 'offset'> {
  /** NDJSON: the line number; JSON array: the 1-based element index; a single event: 1. */
  line: number;
  /**
   * A commerce line: appended to the commerce topic with the valid ones, so that bronze keeps it
   * and the lake's dead letters hold it (SPEC §6.2), not dead_letter_events.
   */
  toLake?: true;
}

export interface IngestBatch {
  /** Live-stream events, for the live-stream topic (key: stream_id). */
  messages: OutgoingMessage[];
  /**
   * For the commerce topic (key: user_id), in line order: the valid commerce events and the
   * rejected commerce lines (`toLake` rejections), which the lake dead-letters with the same reason.
   */
  commerce: OutgoingMessage[];
  /** How many of `commerce` are valid events. */
  commerceAccepted: number;
  rejections: Rejection[];
  /** For each message, in order: its line and event time (µs), for lateness warnings. */
  accepted: { line: number; key: string; tsMicros: number }[];
}

export interface IngestOptions {
  /** Wall clock in ms. */
  now: number;
  /** When set, events stamped more than this after `now` are refused (reason future_ts). */
  maxFutureSkewMs?: number | undefined;
}

const NEWLINE = 0x0a;

function isSpace(byte: number | undefined): boolean {
  return byte === 0x20 || byte === 0x09 || byte === 0x0d || byte === 0x0a;
}

function trim(buf: Buffer): Buffer {
  let start = 0;
  let end = buf.length;
  if (buf[0] === 0xef && buf[1] === 0xbb && buf[2] === 0xbf) start = 3; // UTF-8 BOM
  while (start < end && isSpace(buf[start])) start++;
  while (end > start && isSpace(buf[end - 1])) end--;
  return buf.subarray(start, end);
}

/** Text safe for a Postgres text column and a log line: no NUL, bounded length. */
function clean(text: string, max = 1000): string {
  const safe = text.replaceAll('\u0000', '\\u0000');
  return safe.length > max ? `${safe.slice(0, max - 3)}...` : safe;
}

function knownId(value: unknown): string | undefined {
  return typeof value === 'string' &&
    value.length > 0 &&
    value.length <= MAX_ID_LENGTH &&
    unstorableTextReason(value) === undefined
    ? value
    : undefined;
}

/** What can be recovered from an invalid event for the dead-letter row. */
function knownFields(value: unknown): Pick<DeadLetter, 'eventId' | 'streamId' | 'eventTs'> {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return {};
  const record = value as Record<string, unknown>;
  const micros = typeof record.ts === 'string' ? parseTimestampMicros(record.ts) : undefined;
  return {
    eventId: knownId(record.event_id),
    streamId: knownId(record.stream_id),
    eventTs: micros === undefined || !isEventTimeInRange(micros) ? undefined : micros,
  };
}

function tooMany(): ApiError {
  return new ApiError(413, {
    error: 'too_many_events',
    message: `a request holds at most ${MAX_EVENTS_PER_REQUEST} events; split the batch`,
    allowed: `1..${MAX_EVENTS_PER_REQUEST} events`,
  });
}

class BatchBuilder {
  readonly messages: OutgoingMessage[] = [];
  /** Commerce-topic messages with their lines (kept in line order). */
  readonly commerce: { line: number; message: OutgoingMessage }[] = [];
  commerceAccepted = 0;
  readonly accepted: { line: number; key: string; tsMicros: number }[] = [];
  readonly rejections: Rejection[] = [];
  /** Lines that are not a JSON object: of no domain until the rest of the request says (finish). */
  private readonly undecided: Rejection[] = [];
  /** A line judged as a live-stream event was rejected. */
  private streamRejected = false;
  private readonly options: IngestOptions;

  constructor(options: IngestOptions) {
    this.options = options;
  }

  /**
   * `decoded` is the JSON value when the caller already has it (array elements). A line that makes
   * the checks themselves fail is refused on its own: the other lines of the request still count.
   */
  add(line: number, raw: Buffer, result: ParseResult, decoded?: unknown): void {
    try {
      this.judge(line, raw, result, decoded);
    } catch (error) {
      this.reject(line, raw, 'invalid_event', `could not be checked: ${(error as Error).message}`);
    }
  }

  private judge(line: number, raw: Buffer, result: ParseResult, decoded?: unknown): void {
    // Routed by event_type: a commerce type (or, without a known type, a commerce envelope) goes
    // to the commerce contract and topic.
    if (!result.ok && result.reason === 'invalid_event') {
      // The bytes were valid UTF-8 JSON of an allowed size (else the reason would differ): judge
      // the decoded value by the commerce contract without parsing it a third time.
      const value = decoded === undefined ? decodeJson(raw) : decoded;
      if (isCommerceShaped(value)) {
        this.addCommerce(line, raw, validateCommerceEvent(value, raw.includes(BACKSLASH_U)), value);
        return;
      }
      if (value === null || typeof value !== 'object' || Array.isArray(value)) {
        this.undecided.push(this.rejection(line, raw, result.reason, result.detail));
        return;
      }
      this.streamRejected = true;
      this.reject(line, raw, result.reason, result.detail, value);
      return;
    }
    if (!result.ok) {
      if (result.reason === 'invalid_json')
        this.undecided.push(this.rejection(line, raw, result.reason, result.detail));
      else this.reject(line, raw, result.reason, result.detail, decoded);
      return;
    }
    const { event, tsMicros } = result.value;
    const skew = this.options.maxFutureSkewMs;
    if (skew !== undefined && tsMicros > (this.options.now + skew) * 1000) {
      this.reject(
        line,
        raw,
        'future_ts',
        `ts: "${clean(event.ts, 64)}" is more than ${Math.round(skew / 1000)} s ahead of the server clock`,
        event,
      );
      return;
    }
    this.messages.push({ key: event.stream_id, value: raw });
    this.accepted.push({ line, key: event.stream_id, tsMicros });
  }

  /** `value`: the line's decoded JSON (its user_id keys a rejected line). */
  private addCommerce(line: number, raw: Buffer, result: CommerceParseResult, value: unknown): void {
    if (!result.ok) {
      this.toLake(line, raw, result.reason, result.detail, userKey(value));
      return;
    }
    const skew = this.options.maxFutureSkewMs;
    if (skew !== undefined && result.timestampMicros > (this.options.now + skew) * 1000) {
      this.reject(
        line,
        raw,
        'future_ts',
        `timestamp: "${clean(result.event.timestamp, 64)}" is more than ${Math.round(skew / 1000)} s ahead of the server clock`,
      );
      return;
    }
    this.commerce.push({ line, message: { key: result.event.user_id, value: raw } });
    this.commerceAccepted++;
  }

  /** A rejected commerce line: listed in the answer, and appended for the lake's dead letters. */
  private toLake(line: number, raw: Buffer, reason: string, detail: string, key: string): void {
    this.rejections.push({ line, raw, reason, detail: clean(detail), toLake: true });
    this.commerce.push({ line, message: { key, value: raw } });
  }

  reject(line: number, raw: Buffer, reason: string, detail: string, value?: unknown): void {
    this.rejections.push(this.rejection(line, raw, reason, detail, value));
  }

  private rejection(line: number, raw: Buffer, reason: string, detail: string, value?: unknown): Rejection {
    // A dead letter keeps at most the first MAX_EVENT_BYTES of an oversized event.
    const kept = raw.length > MAX_EVENT_BYTES ? raw.subarray(0, MAX_EVENT_BYTES) : raw;
    return { line, raw: kept, reason, detail: clean(detail), ...knownFields(value) };
  }

  /**
   * Lines that are not a JSON object go with the rest of their request: to the lake, judged by the
   * commerce contract (as the lake will: `malformed_json`, `not_an_object`), when its other events
   * are commerce ones and none is a live-stream one; to dead_letter_events otherwise.
   */
  finish(): void {
    const commerceOnly = this.commerce.length > 0 && this.messages.length === 0 && !this.streamRejected;
    for (const r of this.undecided) {
      if (!commerceOnly) {
        this.rejections.push(r);
        continue;
      }
      const judged = parseCommerceEvent(r.raw);
      const why = judged.ok ? { reason: r.reason, detail: r.detail } : judged;
      this.toLake(r.line, r.raw, why.reason, why.detail, '');
    }
    if (this.undecided.length === 0) return;
    this.rejections.sort((a, b) => a.line - b.line);
    if (commerceOnly) this.commerce.sort((a, b) => a.line - b.line);
  }
}

function parseNdjson(body: Buffer, batch: BatchBuilder): void {
  let start = body[0] === 0xef && body[1] === 0xbb && body[2] === 0xbf ? 3 : 0;
  let line = 0;
  let events = 0;
  while (start <= body.length) {
    let end = body.indexOf(NEWLINE, start);
    if (end === -1) end = body.length;
    line++;
    const raw = body.subarray(start, end > start && body[end - 1] === 0x0d ? end - 1 : end);
    start = end + 1;
    if (trim(raw).length === 0) continue; // blank lines are allowed and ignored
    if (++events > MAX_EVENTS_PER_REQUEST) throw tooMany();
    batch.add(line, raw, parseStreamEvent(raw));
  }
}

function parseJson(body: Buffer, batch: BatchBuilder): void {
  const text = trim(body);
  if (text.length === 0) return;
  if (text[0] !== 0x5b /* [ */) {
    const result = parseStreamEvent(text);
    if (!result.ok && result.reason === 'invalid_json' && text.includes(NEWLINE)) {
      batch.reject(1, text, 'invalid_json', `${result.detail} (${SEVERAL_EVENTS_HINT})`);
      return;
    }
    batch.add(1, text, result);
    return;
  }
  if (!isUtf8(text)) {
    // Decoding would turn invalid bytes into U+FFFD and could make two different ids one.
    batch.reject(1, text, 'invalid_json', 'the body is not valid UTF-8 (JSON text must be UTF-8)');
    return;
  }
  let elements: unknown;
  try {
    elements = JSON.parse(text.toString('utf8'));
  } catch (error) {
    batch.reject(1, text, 'invalid_json', `the body is not a JSON array: ${(error as Error).message}`);
    return;
  }
  if (!Array.isArray(elements)) throw new Error('a JSON text starting with [ is an array');
  if (elements.length > MAX_EVENTS_PER_REQUEST) throw tooMany();
  // Each element as its own bytes (never re-serialized: that recursed on deeply nested elements).
  jsonArrayElements(text).forEach((raw, i) => {
    if (raw.length > MAX_EVENT_BYTES) {
      const detail = `event is ${raw.length} bytes; the limit is ${MAX_EVENT_BYTES}`;
      batch.reject(i + 1, raw.subarray(0, MAX_EVENT_BYTES), 'too_large', detail, elements[i]);
      return;
    }
    batch.add(i + 1, raw, parseStreamEvent(raw), elements[i]);
  });
}

const BACKSLASH_U = Buffer.from('\\u');

function decodeJson(raw: Buffer): unknown {
  try {
    return JSON.parse(raw.toString('utf8'));
  } catch {
    return undefined;
  }
}

/** The commerce partition key of a decoded value: its user_id when that is a usable string, else ''. */
function userKey(value: unknown): string {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return '';
  return knownId((value as Record<string, unknown>).user_id) ?? '';
}

const SEVERAL_EVENTS_HINT =
  'to send several events, send a JSON array, or one event a line with Content-Type: application/x-ndjson';

/**
 * Splits a body into live-stream messages (key: stream_id), commerce messages (key: user_id; by
 * event_type) and rejections, each message the event's own bytes.
 */
export function parseIngestBody(body: Buffer, format: IngestFormat, options: IngestOptions): IngestBatch {
  const batch = new BatchBuilder(options);
  if (format === 'json') parseJson(body, batch);
  else parseNdjson(body, batch);
  batch.finish();
  return {
    messages: batch.messages,
    commerce: batch.commerce.map((c) => c.message),
    commerceAccepted: batch.commerceAccepted,
    rejections: batch.rejections,
    accepted: batch.accepted,
  };
}

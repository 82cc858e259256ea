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
  unstorableTextReason,
} from '../../events/index.ts';
import {
  COMMERCE_EVENT_TYPES,
  type CommerceParseResult,
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
}

export interface IngestBatch {
  /** Live-stream events, for the live-stream topic (key: stream_id). */
  messages: OutgoingMessage[];
  /** Commerce events, for the commerce topic (key: user_id). */
  commerce: OutgoingMessage[];
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
  readonly commerce: OutgoingMessage[] = [];
  readonly accepted: { line: number; key: string; tsMicros: number }[] = [];
  readonly rejections: Rejection[] = [];
  private readonly options: IngestOptions;

  constructor(options: IngestOptions) {
    this.options = options;
  }

  /** `decoded` is the JSON value when the caller already has it (array elements). */
  add(line: number, raw: Buffer, result: ParseResult, decoded?: unknown): void {
    // Routed by event_type: a commerce type goes to the commerce contract and topic.
    if (!result.ok && result.reason === 'invalid_event') {
      // The bytes were valid UTF-8 JSON of an allowed size (else the reason would differ): judge
      // the decoded value by the commerce contract without parsing it a third time.
      const value = decoded === undefined ? decodeJson(raw) : decoded;
      if (isCommerceType(value)) {
        this.addCommerce(line, raw, validateCommerceEvent(value, raw.includes(BACKSLASH_U)));
        return;
      }
    }
    if (!result.ok) {
      let value = decoded;
      if (value === undefined && result.reason === 'invalid_event') {
        try {
          value = JSON.parse(raw.toString('utf8'));
        } catch {
          value = undefined;
        }
      }
      this.reject(line, raw, result.reason, result.detail, value);
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

  private addCommerce(line: number, raw: Buffer, result: CommerceParseResult): void {
    if (!result.ok) {
      this.reject(line, raw, result.reason, result.detail);
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
    this.commerce.push({ key: result.event.user_id, value: raw });
  }

  reject(line: number, raw: Buffer, reason: string, detail: string, value?: unknown): void {
    // A dead letter keeps at most the first MAX_EVENT_BYTES of an oversized event.
    const kept = raw.length > MAX_EVENT_BYTES ? raw.subarray(0, MAX_EVENT_BYTES) : raw;
    this.rejections.push({ line, raw: kept, reason, detail: clean(detail), ...knownFields(value) });
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

const COMMERCE_TYPES = new Set<string>(COMMERCE_EVENT_TYPES);

const BACKSLASH_U = Buffer.from('\\u');

function decodeJson(raw: Buffer): unknown {
  try {
    return JSON.parse(raw.toString('utf8'));
  } catch {
    return undefined;
  }
}

/** Whether a decoded event names a commerce event type. */
function isCommerceType(value: unknown): boolean {
  const type =
    value !== null && typeof value === 'object' ? (value as { event_type?: unknown }).event_type : undefined;
  return typeof type === 'string' && COMMERCE_TYPES.has(type);
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
  return {
    messages: batch.messages,
    commerce: batch.commerce,
    rejections: batch.rejections,
    accepted: batch.accepted,
  };
}

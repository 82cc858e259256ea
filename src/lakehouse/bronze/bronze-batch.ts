/**
 * Bronze rows (SPEC §6.2): every record of the topic as received, with its source, its raw bytes,
 * the envelope where parsing worked, why it is invalid if it is, and when it was ingested. Held
 * column by column, the shape both Parquet writers want. `date` (from the event's own time) and
 * `event_type` are the Hive partition columns; null sends a row to `__HIVE_DEFAULT_PARTITION__`.
 */
import type { BusRecord } from '../../bus/types.ts';
import {
  COMMERCE_EVENT_TYPES,
  type CommerceParseResult,
  MAX_TIMESTAMP_MICROS,
  MIN_TIMESTAMP_MICROS,
  parseCommerceEvent,
  utcDate,
} from '../../events/commerce-event.ts';
import { MICROS_PER_MS, parseTimestampMicros } from '../../events/timestamp.ts';
import { tooDeepPath } from '../../events/limits.ts';

/** Column name → DuckDB type, in file order. Times are UTC microseconds (Parquet TIMESTAMP(MICROS, UTC)). */
export const BRONZE_COLUMNS = {
  topic: 'VARCHAR',
  partition: 'INTEGER',
  offset: 'BIGINT',
  broker_timestamp: 'TIMESTAMPTZ',
  kafka_key: 'VARCHAR',
  raw_value: 'BLOB',
  event_id: 'VARCHAR',
  idempotency_key: 'VARCHAR',
  user_id: 'VARCHAR',
  event_timestamp: 'TIMESTAMPTZ',
  device_type: 'VARCHAR',
  ip_address: 'VARCHAR',
  schema_version: 'VARCHAR',
  /** The payload as JSON text, whatever its shape, when the record was JSON with a `payload`. */
  payload: 'VARCHAR',
  /** Null for a valid event; else the contract's reason (`malformed_json`, `missing_field`, ...). */
  invalid_reason: 'VARCHAR',
  invalid_detail: 'VARCHAR',
  ingestion_time: 'TIMESTAMPTZ',
  date: 'VARCHAR',
  event_type: 'VARCHAR',
} as const;
export type BronzeColumn = keyof typeof BRONZE_COLUMNS;
export const BRONZE_PARTITION_COLUMNS = ['date', 'event_type'] as const;
export const HIVE_DEFAULT_PARTITION = '__HIVE_DEFAULT_PARTITION__';

/** A batch of bronze rows, column by column (index i of every array is row i). */
export interface BronzeBatch {
  length: number;
  topic: string;
  partition: number[];
  offset: number[];
  broker_timestamp: number[];
  kafka_key: (string | null)[];
  raw_value: Buffer[];
  event_id: (string | null)[];
  idempotency_key: (string | null)[];
  user_id: (string | null)[];
  event_timestamp: (number | null)[];
  device_type: (string | null)[];
  ip_address: (string | null)[];
  schema_version: (string | null)[];
  payload: (string | null)[];
  invalid_reason: (string | null)[];
  invalid_detail: (string | null)[];
  ingestion_time: number;
  date: (string | null)[];
  event_type: (string | null)[];
}

const EVENT_TYPES = new Set<string>(COMMERCE_EVENT_TYPES);

export function emptyBronzeBatch(topic: string, ingestionMicros: number): BronzeBatch {
  return {
    length: 0,
    topic,
    partition: [],
    offset: [],
    broker_timestamp: [],
    kafka_key: [],
    raw_value: [],
    event_id: [],
    idempotency_key: [],
    user_id: [],
    event_timestamp: [],
    device_type: [],
    ip_address: [],
    schema_version: [],
    payload: [],
    invalid_reason: [],
    invalid_detail: [],
    ingestion_time: ingestionMicros,
    date: [],
    event_type: [],
  };
}

/**
 * Adds one record. `parsed` is its parseCommerceEvent result when the caller already has it
 * (silver parses every record too); otherwise it is parsed here.
 */
export function addBronzeRow(batch: BronzeBatch, record: BusRecord, parsed?: CommerceParseResult): void {
  const result = parsed ?? parseCommerceEvent(record.value);
  batch.partition.push(record.partition);
  batch.offset.push(record.offset);
  batch.broker_timestamp.push(record.timestamp * MICROS_PER_MS);
  batch.kafka_key.push(record.key?.isWellFormed() ? record.key : null);
  batch.raw_value.push(record.value);
  if (result.ok) {
    const e = result.event;
    batch.event_id.push(e.event_id);
    batch.idempotency_key.push(e.idempotency_key);
    batch.user_id.push(e.user_id);
    batch.event_timestamp.push(result.timestampMicros);
    batch.device_type.push(e.device_type);
    batch.ip_address.push(e.ip_address);
    batch.schema_version.push(e.schema_version);
    batch.payload.push(JSON.stringify(e.payload));
    batch.invalid_reason.push(null);
    batch.invalid_detail.push(null);
    batch.date.push(utcDate(result.timestampMicros));
    batch.event_type.push(e.event_type);
  } else {
    addInvalid(batch, record, result.reason, result.detail);
  }
  batch.length++;
}

/** An invalid record keeps every envelope field that is usable as it is (audit), the rest null. */
function addInvalid(batch: BronzeBatch, record: BusRecord, reason: string, detail: string): void {
  let value: Record<string, unknown> = {};
  if (reason !== 'malformed_json' && reason !== 'too_large') {
    try {
      const parsed: unknown = JSON.parse(record.value.toString('utf8'));
      if (typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed)) {
        value = parsed as Record<string, unknown>;
      }
    } catch {
      // not JSON after all: every field stays null
    }
  }
  const text = (v: unknown): string | null => (typeof v === 'string' && v.isWellFormed() ? v : null);
  batch.event_id.push(text(value.event_id));
  batch.idempotency_key.push(text(value.idempotency_key));
  batch.user_id.push(text(value.user_id));
  const micros = typeof value.timestamp === 'string' ? parseTimestampMicros(value.timestamp) : undefined;
  const inRange = micros !== undefined && micros >= MIN_TIMESTAMP_MICROS && micros < MAX_TIMESTAMP_MICROS;
  batch.event_timestamp.push(inRange ? micros : null);
  batch.device_type.push(text(value.device_type));
  batch.ip_address.push(text(value.ip_address));
  batch.schema_version.push(text(value.schema_version));
  // A payload nested too deep to turn back into JSON (the reason it is invalid) stays in raw_value only.
  batch.payload.push(
    value.payload === undefined || tooDeepPath(value.payload) !== undefined
      ? null
      : JSON.stringify(value.payload),
  );
  batch.invalid_reason.push(reason);
  batch.invalid_detail.push(detail.isWellFormed() ? detail : detail.toWellFormed());
  batch.date.push(inRange ? utcDate(micros) : null);
  // Only a known type names a folder: anything else could be a hostile path segment.
  batch.event_type.push(
    typeof value.event_type === 'string' && EVENT_TYPES.has(value.event_type) ? value.event_type : null,
  );
}

/** A batch of records, parsed here. */
export function toBronzeBatch(
  topic: string,
  records: readonly BusRecord[],
  ingestionMicros: number,
): BronzeBatch {
  const batch = emptyBronzeBatch(topic, ingestionMicros);
  for (const record of records) addBronzeRow(batch, record);
  return batch;
}

/** The rows of `batch` for each (date, event_type) partition: row indexes by folder `date=…/event_type=…`. */
export function bronzePartitions(batch: BronzeBatch): Map<string, number[]> {
  const out = new Map<string, number[]>();
  for (let i = 0; i < batch.length; i++) {
    const folder = `date=${batch.date[i] ?? HIVE_DEFAULT_PARTITION}/event_type=${batch.event_type[i] ?? HIVE_DEFAULT_PARTITION}`;
    let rows = out.get(folder);
    if (rows === undefined) {
      rows = [];
      out.set(folder, rows);
    }
    rows.push(i);
  }
  return out;
}

/**
 * Writing a bronze batch as Hive-partitioned Parquet, with either engine measured in
 * bench/lake-engine.ts (see docs/decisions.md): DuckDB (Appender into a temp table, then
 * `COPY … PARTITION_BY`) or hyparquet-writer (pure JavaScript, one buffer per partition). Both
 * write the same columns and types (BRONZE_COLUMNS; times as TIMESTAMP(MICROS, UTC)) and leave
 * the partition columns to the folder names, as Hive readers expect.
 */
import { mkdir, open, readdir, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import type { DuckDBConnection } from '@duckdb/node-api';
import { DuckDBTimestampTZValue } from '@duckdb/node-api';
import type { ColumnSource, schemaFromColumnData } from 'hyparquet-writer';
import {
  BRONZE_COLUMNS,
  BRONZE_PARTITION_COLUMNS,
  type BronzeBatch,
  type BronzeColumn,
  bronzePartitions,
} from '../bronze/bronze-batch.ts';
import { sqlString } from './duckdb.ts';
import { utf8Views, writeParquetBuffer } from './encode.ts';

/** Files written, as paths relative to the target folder (`date=…/event_type=…/<name>.parquet`). */
export type WrittenFiles = string[];

const FILE_COLUMNS = (Object.keys(BRONZE_COLUMNS) as BronzeColumn[]).filter(
  (c) => !(BRONZE_PARTITION_COLUMNS as readonly string[]).includes(c),
);

/** One Parquet file's bytes per Hive partition of the batch (`date=…/event_type=…`), with hyparquet-writer. */
export function encodeBronzeHyparquet(
  batch: BronzeBatch,
): { folder: string; bytes: Uint8Array; rows: number }[] {
  const out: { folder: string; bytes: Uint8Array; rows: number }[] = [];
  for (const [folder, rows] of bronzePartitions(batch)) {
    const bytes = writeParquetBuffer(hyparquetColumns(batch, rows), TIMESTAMP_COLUMNS);
    out.push({ folder, bytes, rows: rows.length });
  }
  return out;
}

/**
 * hyparquet-writer: one file `<fileName>.parquet` per partition of the batch, each written to a
 * temp name and renamed into place, so a reader never sees a partial file.
 */
export async function writeBronzeHyparquet(
  batch: BronzeBatch,
  dir: string,
  fileName: string,
): Promise<WrittenFiles> {
  const written: WrittenFiles = [];
  for (const { folder, bytes } of encodeBronzeHyparquet(batch)) {
    const relative = `${folder}/${fileName}.parquet`;
    await writeAtomically(path.join(dir, relative), bytes);
    written.push(relative);
  }
  return written;
}

function hyparquetColumns(batch: BronzeBatch, rows: readonly number[]): ColumnSource[] {
  const take = <T>(values: readonly T[]) => rows.map((i) => values[i]!);
  const text = (name: string, values: readonly (string | null)[]): ColumnSource => ({
    name,
    data: take(values),
    type: 'STRING',
  });
  // Mostly distinct values: UTF-8 at once (see utf8Views), and no min/max (random ids and JSON
  // text prune nothing) unless asked for.
  const distinct = (name: string, values: readonly (string | null)[], statistics = false): ColumnSource => ({
    name,
    data: utf8Views(take(values)),
    type: 'STRING',
    statistics,
  });
  // No two values alike: PLAIN without the writer's dictionary trial (see encode.ts, `unique`).
  const unique = (name: string, values: readonly (string | null)[]): ColumnSource => ({
    ...distinct(name, values),
    encoding: 'PLAIN',
  });
  const micros = (name: string, values: readonly (number | null)[] | number): ColumnSource => ({
    name,
    data: typeof values === 'number' ? rows.map(() => BigInt(values)) : rows.map((i) => toBigInt(values[i]!)),
  });
  const columns: Record<Exclude<BronzeColumn, 'date' | 'event_type'>, ColumnSource> = {
    topic: { name: 'topic', data: rows.map(() => batch.topic), type: 'STRING' },
    partition: { name: 'partition', data: Int32Array.from(rows, (i) => batch.partition[i]!), type: 'INT32' },
    offset: {
      name: 'offset',
      data: BigInt64Array.from(rows, (i) => BigInt(batch.offset[i]!)),
      type: 'INT64',
    },
    broker_timestamp: micros('broker_timestamp', batch.broker_timestamp),
    kafka_key: distinct('kafka_key', batch.kafka_key, true),
    raw_value: {
      name: 'raw_value',
      data: take(batch.raw_value),
      type: 'BYTE_ARRAY',
      statistics: false,
      encoding: 'PLAIN',
    },
    event_id: unique('event_id', batch.event_id),
    idempotency_key: unique('idempotency_key', batch.idempotency_key),
    user_id: distinct('user_id', batch.user_id, true),
    event_timestamp: micros('event_timestamp', batch.event_timestamp),
    device_type: text('device_type', batch.device_type),
    ip_address: distinct('ip_address', batch.ip_address),
    schema_version: text('schema_version', batch.schema_version),
    payload: unique('payload', batch.payload),
    invalid_reason: text('invalid_reason', batch.invalid_reason),
    invalid_detail: text('invalid_detail', batch.invalid_detail),
    ingestion_time: micros('ingestion_time', batch.ingestion_time),
  };
  return FILE_COLUMNS.map((c) => columns[c as keyof typeof columns]);
}

/** hyparquet-writer's own SchemaElement (it bundles its own hyparquet). */
type SchemaElement = NonNullable<Parameters<typeof schemaFromColumnData>[0]['schemaOverrides']>[string];

/** INT64 TIMESTAMP(isAdjustedToUTC, MICROS), as DuckDB writes TIMESTAMPTZ. */
const TIMESTAMP_COLUMNS: Record<string, SchemaElement> = Object.fromEntries(
  FILE_COLUMNS.filter((c) => BRONZE_COLUMNS[c] === 'TIMESTAMPTZ').map((c) => [
    c,
    {
      name: c,
      type: 'INT64',
      repetition_type: 'OPTIONAL',
      converted_type: 'TIMESTAMP_MICROS',
      logical_type: { type: 'TIMESTAMP', isAdjustedToUTC: true, unit: 'MICROS' },
    } satisfies SchemaElement,
  ]),
);

function toBigInt(value: number | null): bigint | null {
  return value === null ? null : BigInt(value);
}

/**
 * DuckDB: appends the batch to a temp table with the Appender, then one partitioned COPY into a
 * staging folder beside `dir`, whose files are renamed into `dir` as `<fileName>.parquet`.
 */
export async function writeBronzeDuckDB(
  connection: DuckDBConnection,
  batch: BronzeBatch,
  dir: string,
  fileName: string,
  options: { compression?: 'snappy' | 'zstd' } = {},
): Promise<WrittenFiles> {
  const table = 'bronze_batch';
  const columns = Object.entries(BRONZE_COLUMNS)
    .map(([name, type]) => `"${name}" ${type}`)
    .join(', ');
  await connection.run(`CREATE OR REPLACE TEMP TABLE ${table} (${columns})`);
  const appender = await connection.createAppender(table);
  const str = (v: string | null) => (v === null ? appender.appendNull() : appender.appendVarchar(v));
  const ts = (v: number | null) =>
    v === null ? appender.appendNull() : appender.appendTimestampTZ(new DuckDBTimestampTZValue(BigInt(v)));
  const ingestion = new DuckDBTimestampTZValue(BigInt(batch.ingestion_time));
  for (let i = 0; i < batch.length; i++) {
    appender.appendVarchar(batch.topic);
    appender.appendInteger(batch.partition[i]!);
    appender.appendBigInt(BigInt(batch.offset[i]!));
    ts(batch.broker_timestamp[i]!);
    str(batch.kafka_key[i]!);
    appender.appendBlob(batch.raw_value[i]!);
    str(batch.event_id[i]!);
    str(batch.idempotency_key[i]!);
    str(batch.user_id[i]!);
    ts(batch.event_timestamp[i]!);
    str(batch.device_type[i]!);
    str(batch.ip_address[i]!);
    str(batch.schema_version[i]!);
    str(batch.payload[i]!);
    str(batch.invalid_reason[i]!);
    str(batch.invalid_detail[i]!);
    appender.appendTimestampTZ(ingestion);
    str(batch.date[i]!);
    str(batch.event_type[i]!);
    appender.endRow();
  }
  appender.flushSync();
  appender.closeSync();

  // Beside the dataset, not inside it: a reader globbing `<dir>/**/*.parquet` must not see it.
  const staging = path.join(path.dirname(dir), `.staging-${path.basename(dir)}-${fileName}`);
  await rm(staging, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  await connection.run(
    `COPY ${table} TO ${sqlString(staging)} (FORMAT parquet, COMPRESSION ${options.compression ?? 'snappy'}, ` +
      `PARTITION_BY (${BRONZE_PARTITION_COLUMNS.join(', ')}), ROW_GROUP_SIZE 100000, FILENAME_PATTERN 'data_{i}')`,
  );
  await connection.run(`DROP TABLE ${table}`);
  const written: WrittenFiles = [];
  for (const dateDir of await readdir(staging)) {
    for (const typeDir of await readdir(path.join(staging, dateDir))) {
      const files = await readdir(path.join(staging, dateDir, typeDir));
      for (const [n, file] of files.entries()) {
        const suffix = files.length === 1 ? '' : `-${n}`;
        const relative = `${dateDir}/${typeDir}/${fileName}${suffix}.parquet`;
        await mkdir(path.join(dir, dateDir, typeDir), { recursive: true });
        await rename(path.join(staging, dateDir, typeDir, file), path.join(dir, relative));
        written.push(relative);
      }
    }
  }
  await rm(staging, { recursive: true, force: true });
  return written;
}

/**
 * Writes to `<file>.tmp-<pid>`, syncs it, and renames: a crash leaves a temp file (never read:
 * readers glob `*.parquet`), never a partial or empty file under the final name.
 */
export async function writeAtomically(file: string, data: Uint8Array): Promise<void> {
  await mkdir(path.dirname(file), { recursive: true });
  const temp = `${file}.tmp-${process.pid}`;
  const handle = await open(temp, 'w');
  try {
    await handle.writeFile(data);
    await handle.sync();
  } finally {
    await handle.close();
  }
  await rename(temp, file);
}

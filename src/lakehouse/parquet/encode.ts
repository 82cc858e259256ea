/**
 * Rows held column by column → one Parquet file's bytes, with hyparquet-writer (the engine chosen
 * in docs/decisions.md): ZSTD pages, times as INT64 TIMESTAMP(MICROS, UTC) like DuckDB's
 * TIMESTAMPTZ, every column nullable. Used by the silver layer and the dead-letter files.
 */
import { constants, zstdCompressSync } from 'node:zlib';
import { type ColumnSource, parquetWriteBuffer, schemaFromColumnData } from 'hyparquet-writer';

export type ColumnKind = 'string' | 'int32' | 'int64' | 'double' | 'bool' | 'timestamp' | 'bytes';

export type Column =
  | {
      name: string;
      kind: 'string';
      values: readonly (string | null)[];
      /** Mostly distinct values (ids, payloads), which the writer stores plain: see `utf8Views`. */
      distinct?: boolean;
      /**
       * No two values alike (event ids, idempotency keys, JSON payloads, e-mail addresses): written
       * PLAIN straight away. Otherwise the writer first tries a dictionary on a sample of 1,000
       * values per file, hashing each byte (~5 % of a bronze thread's CPU, for raw bytes and
       * payloads), only to reject it.
       */
      unique?: boolean;
      /**
       * Min/max in the footer. Default: on, except for `distinct` columns, whose bounds (random ids,
       * JSON text) prune nothing and cost a byte-wise comparison per value (~5 % of an encoding).
       */
      statistics?: boolean;
    }
  | { name: string; kind: 'int32' | 'int64' | 'double'; values: readonly (number | null)[] }
  | { name: string; kind: 'bool'; values: readonly (boolean | null)[] }
  /** Microseconds since the epoch, UTC. */
  | { name: string; kind: 'timestamp'; values: readonly (number | null)[] }
  | { name: string; kind: 'bytes'; values: readonly (Uint8Array | null)[] };

export type SchemaElement = NonNullable<
  Parameters<typeof schemaFromColumnData>[0]['schemaOverrides']
>[string];

function source(c: Column): ColumnSource {
  switch (c.kind) {
    case 'string':
      return {
        name: c.name,
        data: c.distinct || c.unique ? utf8Views(c.values) : [...c.values],
        type: 'STRING',
        statistics: c.statistics ?? !(c.distinct || c.unique),
        ...(c.unique ? { encoding: 'PLAIN' as const } : {}),
      };
    case 'int32':
      return { name: c.name, data: [...c.values], type: 'INT32' };
    case 'int64':
      return { name: c.name, data: c.values.map((v) => (v === null ? null : BigInt(v))), type: 'INT64' };
    case 'double':
      return { name: c.name, data: [...c.values], type: 'DOUBLE' };
    case 'bool':
      return { name: c.name, data: [...c.values], type: 'BOOLEAN' };
    case 'bytes':
      return { name: c.name, data: [...c.values], type: 'BYTE_ARRAY' };
    case 'timestamp':
      return { name: c.name, data: c.values.map((v) => (v === null ? null : BigInt(v))) };
  }
}

/**
 * Each string's UTF-8 bytes as a view of one buffer for the column (null stays null). Given
 * strings, hyparquet-writer encodes every value of a column it writes plain with its own
 * TextEncoder call and buffer (~10 % of a silver batch's CPU, and garbage); a column of mostly
 * distinct values is written plain, so it is encoded here at once. Columns with few distinct values
 * stay strings: the writer builds their dictionary from the strings and encodes only its entries.
 * The file's bytes are the same either way.
 */
export function utf8Views(values: readonly (string | null)[]): (Uint8Array | null)[] {
  let total = 0;
  for (const v of values) if (v !== null) total += Buffer.byteLength(v);
  const buffer = Buffer.allocUnsafe(total);
  let at = 0;
  return values.map((v) => {
    if (v === null) return null;
    const n = buffer.write(v, at);
    const view = buffer.subarray(at, at + n);
    at += n;
    return view;
  });
}

/**
 * A page compressed with ZSTD level 1 by Node's own zlib (native). Against the wasm snappy used
 * before (hysnappy), a bronze batch of 200,000 events encoded in 1.65-2.0 s instead of 1.9-2.5 s
 * and its files were 44 % smaller (docs/decisions.md); every Parquet reader of note (DuckDB,
 * pyarrow, Spark) reads ZSTD.
 */
function zstd(bytes: Uint8Array): Uint8Array {
  return zstdCompressSync(bytes, { params: { [constants.ZSTD_c_compressionLevel]: 1 } });
}

/** The one way the lake writes Parquet bytes: ZSTD (Node's zlib), row groups of 100,000. */
export function writeParquetBuffer(
  typed: ColumnSource[],
  overrides: Record<string, SchemaElement>,
): Uint8Array {
  // An explicit schema (for the timestamps) excludes per-column types.
  const schema = schemaFromColumnData({ columnData: typed, schemaOverrides: overrides });
  const buffer = parquetWriteBuffer({
    columnData: typed.map(({ type: _type, ...column }) => column),
    schema,
    codec: 'ZSTD',
    compressors: { ZSTD: zstd },
    rowGroupSize: 100_000,
  });
  return new Uint8Array(buffer);
}

export function encodeParquet(columns: readonly Column[]): Uint8Array {
  const typed = columns.map(source);
  const overrides: Record<string, SchemaElement> = {};
  for (const c of columns) {
    if (c.kind !== 'timestamp') continue;
    overrides[c.name] = {
      name: c.name,
      type: 'INT64',
      repetition_type: 'OPTIONAL',
      converted_type: 'TIMESTAMP_MICROS',
      logical_type: { type: 'TIMESTAMP', isAdjustedToUTC: true, unit: 'MICROS' },
    };
  }
  return writeParquetBuffer(typed, overrides);
}

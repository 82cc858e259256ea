/**
 * Which engine writes the lake's Parquet (docs/decisions.md)? 1M generated commerce events
 * (10,000 users, 10 days, 1 % bad data) as topic records → bronze rows (the contract's parse) →
 * Parquet partitioned by date/event_type, in batches of 100,000 records, by each candidate in its
 * own child process (so peak RSS is its own):
 *   duckdb-appender       @duckdb/node-api: Appender into a temp table, COPY … PARTITION_BY (snappy)
 *   duckdb-appender-zstd  the same with zstd
 *   hyparquet-writer      pure JavaScript, one buffer per partition (snappy)
 *   duckdb-ndjson         the bronze rows as NDJSON in a temp file (raw bytes as JSON text, base64
 *                         when not UTF-8), read by DuckDB's own JSON reader and written by
 *                         `COPY … PARTITION_BY` (snappy): no per-value calls into DuckDB
 * Then each output is read back by an independent reader: DuckDB reads hyparquet's files and
 * both outputs must hold the same rows (EXCEPT ALL both ways), and hyparquet reads DuckDB's files
 * and every row must equal the bronze row computed from the input.
 *
 * `npm run bench -- lake-engine` (1M events; `--events N` for another size).
 */
import { isUtf8 } from 'node:buffer';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { DuckDBConnection } from '@duckdb/node-api';
import { asyncBufferFromFile, parquetReadObjects } from 'hyparquet';
import type { BusRecord } from '../src/bus/types.ts';
import { createCommerceHistory } from '../src/generator/commerce/index.ts';
import {
  BRONZE_COLUMNS,
  type BronzeBatch,
  type BronzeColumn,
  toBronzeBatch,
} from '../src/lakehouse/bronze/bronze-batch.ts';
import { writeBronzeDuckDB, writeBronzeHyparquet } from '../src/lakehouse/parquet/bronze-parquet.ts';
import { openDuckDB, sqlString } from '../src/lakehouse/parquet/duckdb.ts';
import type { BenchOptions } from './options.ts';

const CANDIDATES = ['duckdb-appender', 'duckdb-appender-zstd', 'hyparquet-writer', 'duckdb-ndjson'] as const;
type Candidate = (typeof CANDIDATES)[number];
const DEFAULT_EVENTS = 1_000_000;
const DAYS = 10;
const BATCH = 100_000;
const TOPIC = 'events_raw';
const PARTITIONS = 3;
const BROKER_BASE_MS = Date.UTC(2025, 11, 11);
const INGESTION_MICROS = Date.UTC(2025, 11, 11, 1) * 1_000;

interface ChildResult {
  candidate: Candidate;
  events: number;
  parse_ms: number;
  write_ms: number;
  /** CPU time (user + system, all threads): steadier than wall time on a shared machine. */
  parse_cpu_ms: number;
  write_cpu_ms: number;
  /** duckdb-ndjson: of write_cpu_ms, the rows made NDJSON and written to the temp file (the rest is DuckDB). */
  handoff_cpu_ms?: number;
  files: number;
  baseline_rss_mib: number;
  peak_rss_mib: number;
}

/** The input as the bronze writer gets it: records of 3 partitions, consecutive offsets. */
function recordsOf(lines: readonly Buffer[]): BusRecord[] {
  const next = new Array<number>(PARTITIONS).fill(0);
  return lines.map((value, i) => {
    const partition = i % PARTITIONS;
    return { partition, offset: next[partition]!++, key: null, value, timestamp: BROKER_BASE_MS + i };
  });
}

function splitLines(data: Buffer): Buffer[] {
  const lines: Buffer[] = [];
  let start = 0;
  for (;;) {
    const end = data.indexOf(10, start);
    if (end < 0) break;
    lines.push(data.subarray(start, end));
    start = end + 1;
  }
  return lines;
}

async function runChild(candidate: Candidate, input: string, out: string): Promise<void> {
  const records = recordsOf(splitLines(await readFile(input)));
  (globalThis as { gc?: () => void }).gc?.();
  const baseline = process.memoryUsage().rss;
  const duck = candidate.startsWith('duckdb') ? await openDuckDB() : undefined;
  let parseMs = 0;
  let writeMs = 0;
  let parseCpu = 0;
  let writeCpu = 0;
  const cpu = () => {
    const u = process.cpuUsage();
    return (u.user + u.system) / 1_000;
  };
  let handoffCpu = 0;
  for (let at = 0, n = 0; at < records.length; at += BATCH, n++) {
    const t0 = performance.now();
    const c0 = cpu();
    const batch = toBronzeBatch(TOPIC, records.slice(at, at + BATCH), INGESTION_MICROS);
    const t1 = performance.now();
    const c1 = cpu();
    const name = `batch-${String(n).padStart(4, '0')}`;
    if (candidate === 'duckdb-ndjson' && duck) {
      const file = `${out}.batch.ndjson`;
      await writeFile(file, bronzeNdjson(batch));
      handoffCpu += cpu() - c1;
      await copyNdjsonToParquet(duck.connection, file, out, name);
      await rm(file);
    } else if (duck) {
      await writeBronzeDuckDB(duck.connection, batch, out, name, {
        compression: candidate === 'duckdb-appender-zstd' ? 'zstd' : 'snappy',
      });
    } else {
      await writeBronzeHyparquet(batch, out, name);
    }
    writeMs += performance.now() - t1;
    parseMs += t1 - t0;
    writeCpu += cpu() - c1;
    parseCpu += c1 - c0;
  }
  // Each candidate writes into a folder of its own: its files, counted once.
  const files = (await parquetFiles(out)).length;
  duck?.connection.closeSync();
  duck?.instance.closeSync();
  const result: ChildResult = {
    candidate,
    events: records.length,
    parse_ms: Math.round(parseMs),
    write_ms: Math.round(writeMs),
    parse_cpu_ms: Math.round(parseCpu),
    write_cpu_ms: Math.round(writeCpu),
    ...(candidate === 'duckdb-ndjson' ? { handoff_cpu_ms: Math.round(handoffCpu) } : {}),
    files,
    baseline_rss_mib: Math.round(baseline / 2 ** 20),
    peak_rss_mib: Math.round((process.resourceUsage().maxRSS * 1024) / 2 ** 20),
  };
  process.stdout.write(`CHILD ${JSON.stringify(result)}\n`);
}

const TIME_COLUMNS = new Set(['broker_timestamp', 'event_timestamp', 'ingestion_time']);
const BRONZE_NAMES = Object.keys(BRONZE_COLUMNS) as BronzeColumn[];

/** The batch as NDJSON for DuckDB's reader: times as µs, the raw bytes as text (base64 when not UTF-8). */
function bronzeNdjson(b: BronzeBatch): Buffer {
  const j = JSON.stringify;
  const topic = j(b.topic);
  const lines = new Array<string>(b.length);
  for (let i = 0; i < b.length; i++) {
    const raw = b.raw_value[i]!;
    const utf8 = isUtf8(raw);
    lines[i] =
      `{"topic":${topic},"partition":${b.partition[i]},"offset":${b.offset[i]},"broker_timestamp":${b.broker_timestamp[i]},` +
      `"kafka_key":${j(b.kafka_key[i])},"raw_text":${utf8 ? j(raw.toString('utf8')) : 'null'},"raw_b64":${utf8 ? 'null' : j(raw.toString('base64'))},` +
      `"event_id":${j(b.event_id[i])},"idempotency_key":${j(b.idempotency_key[i])},"user_id":${j(b.user_id[i])},` +
      `"event_timestamp":${b.event_timestamp[i]},"device_type":${j(b.device_type[i])},"ip_address":${j(b.ip_address[i])},` +
      `"schema_version":${j(b.schema_version[i])},"payload":${j(b.payload[i])},"invalid_reason":${j(b.invalid_reason[i])},` +
      `"invalid_detail":${j(b.invalid_detail[i])},"ingestion_time":${b.ingestion_time},"date":${j(b.date[i])},"event_type":${j(b.event_type[i])}}`;
  }
  return Buffer.from(lines.join('\n'));
}

/** DuckDB reads the NDJSON and writes the bronze columns and types, partitioned as the other candidates. */
async function copyNdjsonToParquet(
  connection: DuckDBConnection,
  file: string,
  out: string,
  name: string,
): Promise<void> {
  const read = BRONZE_NAMES.filter((c) => c !== 'raw_value')
    .map((c) => `'${c}': '${TIME_COLUMNS.has(c) ? 'BIGINT' : BRONZE_COLUMNS[c]}'`)
    .concat(["'raw_text': 'VARCHAR'", "'raw_b64': 'VARCHAR'"])
    .join(', ');
  const select = BRONZE_NAMES.map((c) =>
    c === 'raw_value'
      ? 'coalesce(encode(raw_text), from_base64(raw_b64)) AS raw_value'
      : TIME_COLUMNS.has(c)
        ? `make_timestamptz("${c}") AS "${c}"`
        : `"${c}"`,
  ).join(', ');
  await connection.run(
    `COPY (SELECT ${select} FROM read_json(${sqlString(file)}, format = 'newline_delimited', columns = {${read}})) ` +
      `TO ${sqlString(out)} (FORMAT parquet, COMPRESSION snappy, PARTITION_BY (date, event_type), ` +
      `ROW_GROUP_SIZE 100000, APPEND, FILENAME_PATTERN '${name}_{uuid}')`,
  );
}

function child(candidate: Candidate, input: string, out: string): Promise<ChildResult> {
  return new Promise((resolve, reject) => {
    const proc = spawn(
      process.execPath,
      ['--expose-gc', fileURLToPath(import.meta.url), 'child', candidate, input, out],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    let stdout = '';
    proc.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
    });
    proc.on('error', reject);
    proc.on('exit', (code) => {
      const line = stdout.split('\n').find((l) => l.startsWith('CHILD '));
      if (code !== 0 || !line) reject(new Error(`${candidate} failed (exit ${code})`));
      else resolve(JSON.parse(line.slice(6)) as ChildResult);
    });
  });
}

async function folderBytes(dir: string): Promise<number> {
  let total = 0;
  for (const entry of await readdir(dir, { recursive: true, withFileTypes: true })) {
    if (entry.isFile() && entry.name.endsWith('.parquet')) {
      total += (await stat(path.join(entry.parentPath, entry.name))).size;
    }
  }
  return total;
}

async function parquetFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries
    .filter((e) => e.isFile() && e.name.endsWith('.parquet'))
    .map((e) => path.join(e.parentPath, e.name))
    .sort();
}

const FILE_COLUMNS = (Object.keys(BRONZE_COLUMNS) as BronzeColumn[]).filter(
  (c) => c !== 'date' && c !== 'event_type',
);

/** One row of a batch as comparable text (times as integer microseconds, bytes as hex). */
function expectedRow(batch: BronzeBatch, i: number): string {
  return JSON.stringify([
    ...FILE_COLUMNS.map((c) => {
      if (c === 'topic') return batch.topic;
      if (c === 'ingestion_time') return batch.ingestion_time;
      if (c === 'raw_value') return batch.raw_value[i]!.toString('hex');
      return (batch[c] as unknown[])[i];
    }),
  ]);
}

function actualRow(row: Record<string, unknown>): string {
  return JSON.stringify(
    FILE_COLUMNS.map((c) => {
      const v = row[c];
      if (typeof v === 'bigint') return Number(v);
      if (v instanceof Uint8Array) return Buffer.from(v).toString('hex');
      // A BLOB has no UTF-8 annotation; hyparquet (utf8: true) still decodes it as text.
      if (c === 'raw_value' && typeof v === 'string') return Buffer.from(v).toString('hex');
      return v === undefined ? null : v;
    }),
  );
}

/** Rows are compared by digest: 1M rows of text would not fit in memory twice. */
function digest(row: string): string {
  return createHash('sha256').update(row).digest('base64');
}

/** hyparquet reads every file of `dir`; each row must equal the bronze row computed from the input. */
async function hyparquetReadsBack(dir: string, input: string): Promise<{ rows: number; mismatches: number }> {
  const records = recordsOf(splitLines(await readFile(input)));
  const expected = new Map<string, string>();
  for (let at = 0; at < records.length; at += BATCH) {
    const batch = toBronzeBatch(TOPIC, records.slice(at, at + BATCH), INGESTION_MICROS);
    for (let i = 0; i < batch.length; i++) {
      expected.set(`${batch.partition[i]}:${batch.offset[i]}`, digest(expectedRow(batch, i)));
    }
  }
  let rows = 0;
  let mismatches = 0;
  for (const file of await parquetFiles(dir)) {
    const objects = await parquetReadObjects({
      file: await asyncBufferFromFile(file),
      utf8: true,
      parsers: { timestampFromMicroseconds: (v: bigint | number) => Number(v) },
    });
    for (const row of objects) {
      rows++;
      const id = `${row.partition}:${row.offset}`;
      if (expected.get(id) !== digest(actualRow(row)) && mismatches++ < 3) {
        console.log(`  mismatch at ${id}: ${actualRow(row).slice(0, 300)}`);
      }
      expected.delete(id);
    }
  }
  return { rows, mismatches: mismatches + expected.size };
}

/** DuckDB reads both outputs: same row count, and no row of one missing from the other. */
async function duckdbCompares(
  a: string,
  b: string,
): Promise<{ rows_a: number; rows_b: number; only_a: number; only_b: number }> {
  const { instance, connection } = await openDuckDB();
  try {
    const columns = Object.keys(BRONZE_COLUMNS)
      .map((c) => `"${c}"`)
      .join(', ');
    const scan = (dir: string) =>
      `(SELECT ${columns} FROM read_parquet(${sqlString(`${dir}/**/*.parquet`)}, hive_partitioning = true))`;
    const count = async (sql: string) =>
      Number((await connection.runAndReadAll(sql)).getRows()[0]![0] as bigint);
    return {
      rows_a: await count(`SELECT count(*) FROM ${scan(a)}`),
      rows_b: await count(`SELECT count(*) FROM ${scan(b)}`),
      only_a: await count(`SELECT count(*) FROM (${scan(a)} EXCEPT ALL ${scan(b)})`),
      only_b: await count(`SELECT count(*) FROM (${scan(b)} EXCEPT ALL ${scan(a)})`),
    };
  } finally {
    connection.closeSync();
    instance.closeSync();
  }
}

export async function runLakeEngine(options: BenchOptions): Promise<Record<string, unknown>> {
  const events = process.argv.some((a) => a.startsWith('--events')) ? options.events : DEFAULT_EVENTS;
  const work = await mkdtemp(path.join(tmpdir(), 'rtsa-lake-engine-'));
  try {
    const input = path.join(work, 'input.ndjson');
    const t0 = performance.now();
    const generator = createCommerceHistory({
      seed: 42,
      users: 10_000,
      from: '2025-12-01',
      to: '2025-12-10',
      eventsPerDay: Math.ceil(events / DAYS),
    });
    const parts: Buffer[] = [];
    let generated = 0;
    const newline = Buffer.from('\n');
    while (generated < events) {
      for (const m of generator.take(Math.min(100_000, events - generated))) parts.push(m.value, newline);
      generated = parts.length / 2;
    }
    const data = Buffer.concat(parts);
    parts.length = 0;
    await writeFile(input, data);
    const generateMs = performance.now() - t0;
    console.log(
      `generated ${generated} events (${(data.length / 2 ** 20).toFixed(0)} MiB NDJSON) in ${(generateMs / 1000).toFixed(1)} s`,
    );

    const results: Record<string, unknown>[] = [];
    for (const candidate of CANDIDATES) {
      const out = path.join(work, candidate);
      const r = await child(candidate, input, out);
      const bytes = await folderBytes(out);
      const row = {
        ...r,
        write_events_per_s: Math.round((r.events / r.write_ms) * 1000),
        write_events_per_cpu_s: Math.round((r.events / r.write_cpu_ms) * 1000),
        parse_and_write_events_per_s: Math.round((r.events / (r.parse_ms + r.write_ms)) * 1000),
        parquet_mib: Number((bytes / 2 ** 20).toFixed(1)),
        bytes_per_event: Number((bytes / r.events).toFixed(1)),
      };
      console.log(`${candidate}: ${JSON.stringify(row)}`);
      results.push(row);
    }

    console.log('verifying: DuckDB reads hyparquet-writer files, hyparquet reads DuckDB files');
    const duckVsHy = await duckdbCompares(
      path.join(work, 'duckdb-appender'),
      path.join(work, 'hyparquet-writer'),
    );
    const zstdVsHy = await duckdbCompares(
      path.join(work, 'duckdb-appender-zstd'),
      path.join(work, 'hyparquet-writer'),
    );
    const ndjsonVsHy = await duckdbCompares(
      path.join(work, 'duckdb-ndjson'),
      path.join(work, 'hyparquet-writer'),
    );
    const hyReadsDuck = await hyparquetReadsBack(path.join(work, 'duckdb-appender'), input);
    console.log(`  duckdb vs hyparquet files, read by DuckDB: ${JSON.stringify(duckVsHy)}`);
    console.log(`  duckdb-zstd vs hyparquet files, read by DuckDB: ${JSON.stringify(zstdVsHy)}`);
    console.log(`  duckdb-ndjson vs hyparquet files, read by DuckDB: ${JSON.stringify(ndjsonVsHy)}`);
    console.log(`  DuckDB's files read by hyparquet vs the input: ${JSON.stringify(hyReadsDuck)}`);
    const exact =
      duckVsHy.rows_a === generated &&
      duckVsHy.rows_b === generated &&
      ndjsonVsHy.rows_a === generated &&
      duckVsHy.only_a + duckVsHy.only_b + zstdVsHy.only_a + zstdVsHy.only_b === 0 &&
      ndjsonVsHy.only_a + ndjsonVsHy.only_b === 0 &&
      hyReadsDuck.rows === generated &&
      hyReadsDuck.mismatches === 0;
    return {
      events: generated,
      generate_events_per_s: Math.round((generated / generateMs) * 1000),
      candidates: results,
      read_back_exact: exact,
      verification: { duckVsHy, zstdVsHy, ndjsonVsHy, hyReadsDuck },
      setup:
        `${DAYS} days x ${Math.ceil(events / DAYS)} events/day, 10,000 users, 1 % bad data; batches of ${BATCH} records; ` +
        'bronze columns (src/lakehouse/bronze/bronze-batch.ts); each candidate in its own process; parse = parseCommerceEvent + bronze rows',
    };
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url) && process.argv[2] === 'child') {
  const [, , , candidate, input, out] = process.argv;
  if (!CANDIDATES.includes(candidate as Candidate) || !input || !out) {
    console.error(`usage: lake-engine.ts child ${CANDIDATES.join('|')} <input.ndjson> <out-dir>`);
    process.exit(2);
  }
  await runChild(candidate as Candidate, input, out);
}

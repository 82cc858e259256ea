/**
 * One date of silver, read by DuckDB and written as two CSV files (events, sessions) in a
 * temporary folder, in the column order of the staging tables, for Postgres' COPY: the rows go
 * from Parquet to Postgres without passing through JavaScript values. A local lake is read in
 * place; an S3 lake's files for the date are copied to the temporary folder first (DuckDB's S3
 * support is an extension that cannot be installed offline).
 */
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { type LakeStore, LocalLakeStore } from '../lake-store/index.ts';
import { openDuckDB, sqlString } from '../parquet/duckdb.ts';
import { SILVER_EVENTS_PATH, SILVER_SESSIONS_PATH } from '../silver/index.ts';

export interface SilverDayFiles {
  date: string;
  /**
   * CSV files without header, columns EVENT_COLUMNS, that together hold the date's events, each
   * event once (EVENT_PARTS files, split by key, so that they can be copied at once); empty when
   * the date has no event file.
   */
  eventsCsv: string[];
  sessionsCsv: string | undefined;
  events: number;
  sessions: number;
  /** Deletes the temporary folder. */
  close(): Promise<void>;
}

/**
 * Columns of the events CSV (and of stg_events), in order, each with the DuckDB expression that
 * gives it. event_key is warehouse.key64(idempotency_key) — the first 64 bits of the MD5, as a
 * signed integer — computed here so that Postgres can drop the rows it already holds by primary
 * key without staging the day twice (a test compares it with key64).
 */
/** key64 of the row's unique column, from h: its MD5's first 16 hex digits as an unsigned integer. */
const KEY64 =
  '(h::HUGEINT - CASE WHEN h >= 9223372036854775808 THEN 18446744073709551616 ELSE 0 END)::BIGINT';

export const EVENT_COLUMNS: readonly (readonly [string, string])[] = [
  ['event_key', KEY64],
  ['idempotency_key', 'idempotency_key'],
  ['event_id', 'event_id'],
  ['user_id', 'user_id'],
  ['session_id', 'session_id'],
  ['event_type', 'event_type'],
  ['event_timestamp', "strftime(event_timestamp, '%Y-%m-%d %H:%M:%S.%f')"],
  ['device_type', 'device_type'],
  ['ip_address', 'ip_address'],
  ['schema_version', 'schema_version'],
  ['payload_json', 'payload'],
  ['total_amount', 'total_amount'],
  ['quantity', 'quantity'],
  ['currency', 'currency'],
];

/**
 * Columns of the sessions CSV (and of stg_sessions_raw), in order: session_key is
 * warehouse.key64(session_id), computed here as event_key is.
 */
const SESSION_NAMES = [
  'session_id',
  'user_id',
  'session_start',
  'session_end',
  'duration_seconds',
  'event_count',
  'page_views',
  'purchases',
  'payment_failures',
  'signups',
  'event_types',
  'first_device_type',
  'first_event_id',
] as const;

const TIMESTAMPS = new Set(['session_start', 'session_end']);
export const SESSION_COLUMNS: readonly (readonly [string, string])[] = [
  ['session_key', KEY64],
  ...SESSION_NAMES.map((c) => [c, TIMESTAMPS.has(c) ? `strftime(${c}, '%Y-%m-%d %H:%M:%S.%f')` : c] as const),
];

/** How many CSV files the events are split into: one per core of this machine's COPY. */
const EVENT_PARTS = 2;

/** Temporary folders are named after the process, so a later load can remove a killed one's. */
const TEMP_PREFIX = 'rtsa-warehouse-';

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Removes the CSV folders of loads whose process is gone (killed before it could clean up). */
async function removeOrphans(): Promise<void> {
  for (const name of await readdir(tmpdir()).catch(() => [] as string[])) {
    const pid = Number(/^rtsa-warehouse-(\d+)-/.exec(name)?.[1] ?? Number.NaN);
    if (!Number.isInteger(pid) || pid === process.pid || alive(pid)) continue;
    await rm(path.join(tmpdir(), name), { recursive: true, force: true }).catch(() => {});
  }
}

/**
 * The date's silver as CSV files, or undefined when the lake has no silver file for it. With
 * `keysOnly`, each file has one column: the events' event_key, the sessions' session_key (what a
 * re-load checks against the warehouse before staging whole rows).
 */
export async function exportSilverDay(
  store: LakeStore,
  date: string,
  options: { keysOnly?: boolean } = {},
): Promise<SilverDayFiles | undefined> {
  const eventsPrefix = `${SILVER_EVENTS_PATH}/date=${date}/`;
  const sessionsPrefix = `${SILVER_SESSIONS_PATH}/date=${date}/`;
  const eventKeys = (await store.list(eventsPrefix)).filter((k) => k.endsWith('.parquet'));
  const sessionKeys = (await store.list(sessionsPrefix)).filter((k) => k.endsWith('.parquet'));
  if (eventKeys.length === 0 && sessionKeys.length === 0) return undefined;

  await removeOrphans();
  const temp = await mkdtemp(path.join(tmpdir(), `${TEMP_PREFIX}${process.pid}-`));
  const close = () => rm(temp, { recursive: true, force: true });
  try {
    let root: string;
    if (store instanceof LocalLakeStore) {
      root = store.location;
    } else {
      root = path.join(temp, 'lake');
      for (const key of [...eventKeys, ...sessionKeys]) {
        const bytes = await store.get(key);
        if (bytes === undefined) continue; // removed meanwhile (a compaction): its successor is listed too
        const file = path.join(root, ...key.split('/'));
        await mkdir(path.dirname(file), { recursive: true });
        await writeFile(file, bytes);
      }
    }
    const duck = await openDuckDB();
    try {
      const toCsv = async (
        prefix: string,
        columns: readonly (readonly [string, string])[],
        name: string,
        unique?: string,
        parts = 1,
      ) => {
        const files = sqlString(path.join(root, prefix, '*.parquet'));
        let source = `read_parquet(${files}, union_by_name = true, filename = true, file_row_number = true)`;
        if (unique !== undefined) {
          // Silver holds a key (an event's, a session's) once per date, except across a writer's
          // restart: then the first copy in file order wins, as in silver (the facts are upserted
          // on the key, SPEC §6.4).
          // Counting the distinct keys (one column) is cheap; the window only runs when needed.
          const counted = await duck.connection.runAndReadAll(
            `SELECT count(*) - count(DISTINCT ${unique}) FROM ${source}`,
          );
          const duplicates = Number(counted.getRows()[0]?.[0] ?? 0);
          const dedup =
            duplicates === 0
              ? ''
              : ` QUALIFY row_number() OVER (PARTITION BY ${unique} ORDER BY filename, file_row_number) = 1`;
          source = `(SELECT *, ('0x' || left(md5(${unique}), 16))::UBIGINT AS h FROM ${source}${dedup})`;
        }
        const file = path.join(temp, name);
        const list = columns.map(([c, e]) => `${e} AS ${c}`).join(', ');
        if (parts === 1 || unique === undefined) {
          const copied = await duck.connection.runAndReadAll(
            `COPY (SELECT ${list} FROM ${source}) TO ${sqlString(file)} (FORMAT csv, HEADER false)`,
          );
          return { files: [file], rows: Number(copied.getRows()[0]?.[0] ?? 0) };
        }
        // One folder per part (part=0/…), by the key's hash; the part column is not written.
        const copied = await duck.connection.runAndReadAll(
          `COPY (SELECT ${list}, h % ${parts} AS part FROM ${source}) TO ${sqlString(file)} (FORMAT csv, HEADER false, PARTITION_BY (part))`,
        );
        const written = (await readdir(file, { recursive: true }))
          .filter((f) => f.endsWith('.csv'))
          .sort()
          .map((f) => path.join(file, f));
        return { files: written, rows: Number(copied.getRows()[0]?.[0] ?? 0) };
      };
      const keysOnly = options.keysOnly === true;
      const events =
        eventKeys.length === 0
          ? undefined
          : await toCsv(
              eventsPrefix,
              keysOnly ? EVENT_COLUMNS.slice(0, 1) : EVENT_COLUMNS,
              'events',
              'idempotency_key',
              keysOnly ? 1 : EVENT_PARTS,
            );
      const sessions =
        sessionKeys.length === 0
          ? undefined
          : await toCsv(
              sessionsPrefix,
              keysOnly ? SESSION_COLUMNS.slice(0, 1) : SESSION_COLUMNS,
              'sessions.csv',
              'session_id',
            );
      return {
        date,
        eventsCsv: events?.files ?? [],
        sessionsCsv: sessions?.files[0],
        events: events?.rows ?? 0,
        sessions: sessions?.rows ?? 0,
        close,
      };
    } finally {
      duck.connection.closeSync();
      duck.instance.closeSync();
    }
  } catch (error) {
    await close();
    throw error;
  }
}

/**
 * What the quality checks know about one date of silver: its files as readers see them (listed in
 * the lake store), each with what the lake's commit ledger (`lake.files`, written in the same
 * transaction that makes a file exist) says about it — when it was committed and how many rows it
 * holds — and, for the null check, the files' contents through DuckDB.
 *
 * The ledger answers by primary key, so freshness and volume cost one indexed query per date
 * whatever the store (a folder or S3). A file the ledger does not know (a lake copied in by hand)
 * has no commit time, and its rows are counted from its Parquet footer.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type pg from 'pg';
import { type LakeStore, LocalLakeStore } from '../lake-store/index.ts';
import { openDuckDB, sqlString } from '../parquet/index.ts';

export interface SilverFile {
  key: string;
  /** When the lake committed it; undefined when the ledger does not list it. */
  committedAt: Date | undefined;
  /** Its rows per the ledger; undefined when the ledger does not list it. */
  rows: number | undefined;
}

/** The Parquet files under `<layerPath>/date=<date>/` (e.g. silver/events), with their ledger entries. */
export async function silverFiles(
  pool: pg.Pool,
  store: LakeStore,
  layerPath: string,
  date: string,
): Promise<SilverFile[]> {
  const keys = (await store.list(`${layerPath}/date=${date}/`)).filter((k) => k.endsWith('.parquet')).sort();
  if (keys.length === 0) return [];
  const { rows } = await pool.query<{ key: string; committed_at: Date; rows: number }>(
    'SELECT key, committed_at, rows FROM lake.files WHERE key = ANY($1::text[])',
    [keys],
  );
  const ledger = new Map(rows.map((r) => [r.key, r]));
  return keys.map((key) => {
    const entry = ledger.get(key);
    return { key, committedAt: entry?.committed_at, rows: entry?.rows };
  });
}

/** Rows in the files: the ledger's counts, and the Parquet footers of files it does not list. */
export async function rowCount(store: LakeStore, files: readonly SilverFile[]): Promise<number> {
  let total = 0;
  const unknown: string[] = [];
  for (const f of files) {
    if (f.rows === undefined) unknown.push(f.key);
    else total += f.rows;
  }
  if (unknown.length > 0) {
    total += await withParquet(store, unknown, async (query) => {
      const rows = await query<{ n: number }>('SELECT count(*)::INTEGER AS n FROM files');
      return Number(rows[0]?.n ?? 0);
    });
  }
  return total;
}

/** Runs DuckDB SQL over a view `files`: the given keys read as one table (columns unioned by name). */
export type ParquetQuery = <R extends Record<string, unknown>>(sql: string) => Promise<R[]>;

/**
 * Opens the files (in place for a local lake; downloaded to a temporary folder from S3, since
 * DuckDB's S3 support is an extension that cannot be installed offline) as the view `files`.
 */
export async function withParquet<T>(
  store: LakeStore,
  keys: readonly string[],
  fn: (query: ParquetQuery) => Promise<T>,
): Promise<T> {
  let temp: string | undefined;
  try {
    let paths: string[];
    if (store instanceof LocalLakeStore) {
      paths = keys.map((k) => path.join(store.location, ...k.split('/')));
    } else {
      const folder = await mkdtemp(path.join(tmpdir(), 'rtsa-quality-'));
      temp = folder;
      paths = [];
      for (const key of keys) {
        const bytes = await store.get(key);
        if (bytes === undefined) continue; // removed since it was listed
        const file = path.join(folder, ...key.split('/'));
        await mkdir(path.dirname(file), { recursive: true });
        await writeFile(file, bytes);
        paths.push(file);
      }
    }
    const duck = await openDuckDB();
    try {
      const list = paths.length === 0 ? '[]::VARCHAR[]' : `[${paths.map(sqlString).join(', ')}]`;
      await duck.connection.run(
        paths.length === 0
          ? 'CREATE VIEW files AS SELECT * FROM (SELECT 1) WHERE false'
          : `CREATE VIEW files AS SELECT * FROM read_parquet(${list}, union_by_name = true)`,
      );
      return await fn(async <R extends Record<string, unknown>>(sql: string) => {
        const reader = await duck.connection.runAndReadAll(sql);
        return reader.getRowObjectsJS() as R[];
      });
    } finally {
      duck.connection.closeSync();
      duck.instance.closeSync();
    }
  } finally {
    if (temp !== undefined) await rm(temp, { recursive: true, force: true });
  }
}

/**
 * The first bronze writer: a batch of records of one topic partition → Parquet files under
 * `<root>/bronze/events/date=…/event_type=…/`, one per Hive partition the batch touches.
 *
 * File names are a deterministic function of the source, `<topic>-p<partition>-o<first>-<last>`
 * (offsets zero-padded, so names sort in log order): writing the same offset range again, after a
 * crash or a replay, replaces each file with identical content instead of adding a copy. Each file
 * is written under a temp name, synced and renamed, so readers (who glob `*.parquet`) never see a
 * partial file. Committing which ranges are done, and removing files of a range that was never
 * committed, is the caller's job (see the design in docs/decisions.md).
 */
import type { BusRecord } from '../../bus/types.ts';
import { MICROS_PER_MS } from '../../events/timestamp.ts';
import { writeBronzeDuckDB, writeBronzeHyparquet } from '../parquet/bronze-parquet.ts';
import { openDuckDB } from '../parquet/duckdb.ts';
import { toBronzeBatch } from './bronze-batch.ts';

export const BRONZE_EVENTS_PATH = 'bronze/events';

export type ParquetEngine = 'duckdb' | 'hyparquet';

export interface BronzeWriterOptions {
  /** The lake's root folder. */
  root: string;
  topic: string;
  /** Default 'hyparquet' (docs/decisions.md). */
  engine?: ParquetEngine;
  /** Ingestion clock, ms since the epoch. Default Date.now. */
  now?: () => number;
}

export interface BronzeWriteResult {
  partition: number;
  firstOffset: number;
  lastOffset: number;
  /** Paths relative to the root, e.g. `bronze/events/date=2025-12-01/event_type=purchase/events_raw-p0-o…parquet`. */
  files: string[];
}

export interface BronzeWriter {
  /** Writes records of one partition, in offset order (at least one). */
  write(records: readonly BusRecord[]): Promise<BronzeWriteResult>;
  close(): Promise<void>;
}

/** `events_raw-p0-o00000000000000000100-00000000000000000199`: the same range always gets the same name. */
export function bronzeFileName(
  topic: string,
  partition: number,
  firstOffset: number,
  lastOffset: number,
): string {
  const pad = (n: number) => String(n).padStart(20, '0');
  return `${topic}-p${partition}-o${pad(firstOffset)}-${pad(lastOffset)}`;
}

export async function createBronzeWriter(options: BronzeWriterOptions): Promise<BronzeWriter> {
  const engine = options.engine ?? 'hyparquet';
  const now = options.now ?? Date.now;
  const dir = `${options.root}/${BRONZE_EVENTS_PATH}`;
  const duck = engine === 'duckdb' ? await openDuckDB() : undefined;
  let closed = false;
  return {
    async write(records) {
      if (closed) throw new Error('the bronze writer is closed');
      const first = records[0];
      const last = records[records.length - 1];
      if (first === undefined || last === undefined) throw new Error('write needs at least one record');
      for (let i = 1; i < records.length; i++) {
        const r = records[i]!;
        if (r.partition !== first.partition || r.offset <= records[i - 1]!.offset) {
          throw new Error(
            `records must come from one partition in offset order: got p${r.partition}@${r.offset} after ` +
              `p${records[i - 1]!.partition}@${records[i - 1]!.offset}`,
          );
        }
      }
      const batch = toBronzeBatch(options.topic, records, Math.floor(now()) * MICROS_PER_MS);
      const name = bronzeFileName(options.topic, first.partition, first.offset, last.offset);
      const written = duck
        ? await writeBronzeDuckDB(duck.connection, batch, dir, name)
        : await writeBronzeHyparquet(batch, dir, name);
      return {
        partition: first.partition,
        firstOffset: first.offset,
        lastOffset: last.offset,
        files: written.map((f) => `${BRONZE_EVENTS_PATH}/${f}`),
      };
    },
    async close() {
      if (closed) return;
      closed = true;
      duck?.connection.closeSync();
      duck?.instance.closeSync();
    },
  };
}

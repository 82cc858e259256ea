/**
 * Bronze as a lake-writer layer: every record of `events_raw`, as received, into Hive-partitioned
 * Parquet (`bronze/events/date=…/event_type=…/`), one file per folder a commit touches, named for
 * the offset range it holds. Bronze keeps no state: a restart resumes at the committed offset.
 */
import type { BusRecord } from '../../bus/types.ts';
import { MICROS_PER_MS } from '../../events/timestamp.ts';
import type { WriterClaim } from '../lake-writer/commit-log.ts';
import type { Layer, LayerPartition } from '../lake-writer/lake-writer.ts';
import { encodeBronzeHyparquet } from '../parquet/bronze-parquet.ts';
import { addBronzeRow, emptyBronzeBatch } from './bronze-batch.ts';
import { BRONZE_EVENTS_PATH, bronzeFileName } from './bronze-writer.ts';

export function bronzeLayer(topic: string): Layer {
  return {
    name: 'bronze',
    open(claim: WriterClaim): LayerPartition {
      let records: BusRecord[] = [];
      return {
        ingest(record) {
          records.push(record);
        },
        get pending() {
          return records.length > 0;
        },
        take(nowMs) {
          const first = records[0];
          const last = records[records.length - 1];
          if (first === undefined || last === undefined) return { files: [] };
          const batch = emptyBronzeBatch(topic, Math.floor(nowMs) * MICROS_PER_MS);
          for (const r of records) addBronzeRow(batch, r);
          records = [];
          const name = bronzeFileName(topic, claim.partition, first.offset, last.offset);
          return {
            files: encodeBronzeHyparquet(batch).map((f) => ({
              key: `${BRONZE_EVENTS_PATH}/${f.folder}/${name}.parquet`,
              bytes: f.bytes,
              rows: f.rows,
            })),
          };
        },
      };
    },
  };
}

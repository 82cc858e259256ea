/**
 * System B's lake (SPEC §6.2): bronze rows and files so far. Parquet is written with
 * hyparquet-writer and read with DuckDB (docs/decisions.md, "Parquet engine").
 */
export {
  addBronzeRow,
  BRONZE_COLUMNS,
  BRONZE_PARTITION_COLUMNS,
  type BronzeBatch,
  type BronzeColumn,
  bronzePartitions,
  emptyBronzeBatch,
  HIVE_DEFAULT_PARTITION,
  toBronzeBatch,
} from './bronze/bronze-batch.ts';
export {
  BRONZE_EVENTS_PATH,
  type BronzeWriter,
  type BronzeWriteResult,
  type BronzeWriterOptions,
  bronzeFileName,
  createBronzeWriter,
  type ParquetEngine,
} from './bronze/bronze-writer.ts';
export {
  type EncodedFile,
  encodeBronzeHyparquet,
  writeAtomically,
  writeBronzeDuckDB,
  writeBronzeHyparquet,
  type WrittenFiles,
} from './parquet/bronze-parquet.ts';
export { openDuckDB, sqlString } from './parquet/duckdb.ts';

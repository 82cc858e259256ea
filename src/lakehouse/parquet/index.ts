export { encodeBronzeHyparquet, writeBronzeDuckDB, writeBronzeHyparquet } from './bronze-parquet.ts';
export { openDuckDB, sqlString } from './duckdb.ts';
export { type Column, type ColumnKind, encodeParquet } from './encode.ts';

export { BRONZE_COLUMNS, type BronzeBatch, HIVE_DEFAULT_PARTITION, toBronzeBatch } from './bronze-batch.ts';
export { bronzeLayer } from './bronze-layer.ts';
export { BRONZE_EVENTS_PATH, bronzeFileName, createBronzeWriter } from './bronze-writer.ts';

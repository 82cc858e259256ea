/**
 * DuckDB for the lake, opened the one way that works offline: the extensions it needs for Parquet
 * and JSON are built in, and it must never try to download others (its extension server is not
 * reachable from every machine; a failed INSTALL costs a timeout).
 */
import { type DuckDBConnection, DuckDBInstance } from '@duckdb/node-api';

export async function openDuckDB(
  path = ':memory:',
): Promise<{ instance: DuckDBInstance; connection: DuckDBConnection }> {
  const instance = await DuckDBInstance.create(path, {
    autoinstall_known_extensions: 'false',
    autoload_known_extensions: 'false',
    // A lake writer shares the machine with Postgres and the API.
    threads: '2',
  });
  return { instance, connection: await instance.connect() };
}

/** A SQL string literal. */
export function sqlString(text: string): string {
  return `'${text.replaceAll("'", "''")}'`;
}

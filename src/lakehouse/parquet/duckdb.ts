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
  const connection = await instance.connect();
  // The lake's times are UTC: a TIMESTAMPTZ formatted (strftime) or cast to a DATE follows
  // DuckDB's TimeZone, which defaults to the process's own zone (TZ). Every connection of the
  // instance gets UTC, so no result depends on where the process runs.
  await connection.run(`SET GLOBAL TimeZone = 'UTC'`);
  return { instance, connection };
}

/** A SQL string literal. */
export function sqlString(text: string): string {
  return `'${text.replaceAll("'", "''")}'`;
}

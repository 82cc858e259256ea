/**
 * One date of silver read with DuckDB: the events of `silver/events/date=D/` and the sessions of
 * `silver/sessions/date=D/`, as column arrays ready to be sent to Postgres. A local lake is read
 * in place; an S3 lake's files for the date are copied to a temporary folder first (DuckDB's S3
 * support is an extension that cannot be installed offline).
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { type LakeStore, LocalLakeStore } from '../lake-store/index.ts';
import { openDuckDB, sqlString } from '../parquet/duckdb.ts';
import { SILVER_EVENTS_PATH, SILVER_SESSIONS_PATH } from '../silver/index.ts';

export interface SilverEvents {
  idempotencyKey: string[];
  eventId: string[];
  userId: string[];
  sessionId: (string | null)[];
  eventType: string[];
  /** 'YYYY-MM-DD HH:MM:SS.ffffff' (UTC) */
  eventTimestamp: string[];
  deviceType: string[];
  ipAddress: (string | null)[];
  schemaVersion: (string | null)[];
  payload: string[];
  totalAmount: (number | null)[];
  quantity: (number | null)[];
  currency: (string | null)[];
}

export interface SilverSessions {
  sessionId: string[];
  userId: string[];
  sessionStart: string[];
  sessionEnd: string[];
  eventCount: number[];
  pageViews: number[];
  purchases: number[];
  paymentFailures: number[];
  signups: number[];
  eventTypes: string[];
  firstDeviceType: string[];
  firstEventId: string[];
  durationSeconds: number[];
}

export interface SilverDay {
  date: string;
  events: SilverEvents;
  sessions: SilverSessions;
}

const TS = (column: string) => `strftime(${column}, '%Y-%m-%d %H:%M:%S.%f')`;

const EVENTS_SQL = (glob: string) => `
  SELECT idempotency_key, event_id, user_id, session_id, event_type,
         ${TS('event_timestamp')} AS event_timestamp, device_type, ip_address, schema_version, payload,
         total_amount, quantity, currency
  FROM read_parquet(${sqlString(glob)}, hive_partitioning = true, union_by_name = true)
  ORDER BY idempotency_key`;

const SESSIONS_SQL = (glob: string) => `
  SELECT session_id, user_id, ${TS('session_start')} AS session_start, ${TS('session_end')} AS session_end,
         event_count, page_views, purchases, payment_failures, signups, event_types,
         first_device_type, first_event_id, duration_seconds
  FROM read_parquet(${sqlString(glob)}, hive_partitioning = true, union_by_name = true)
  ORDER BY session_id`;

/** The date's silver, or undefined when the lake has no silver file for it. */
export async function readSilverDay(store: LakeStore, date: string): Promise<SilverDay | undefined> {
  const eventsPrefix = `${SILVER_EVENTS_PATH}/date=${date}/`;
  const sessionsPrefix = `${SILVER_SESSIONS_PATH}/date=${date}/`;
  const eventKeys = (await store.list(eventsPrefix)).filter((k) => k.endsWith('.parquet'));
  const sessionKeys = (await store.list(sessionsPrefix)).filter((k) => k.endsWith('.parquet'));
  if (eventKeys.length === 0 && sessionKeys.length === 0) return undefined;

  let root: string;
  let temp: string | undefined;
  if (store instanceof LocalLakeStore) {
    root = store.location;
  } else {
    temp = await mkdtemp(path.join(tmpdir(), 'rtsa-warehouse-'));
    root = temp;
    for (const key of [...eventKeys, ...sessionKeys]) {
      const bytes = await store.get(key);
      if (bytes === undefined) continue; // compacted away meanwhile: the next load sees its successor
      const file = path.join(temp, ...key.split('/'));
      await mkdir(path.dirname(file), { recursive: true });
      await writeFile(file, bytes);
    }
  }
  const duck = await openDuckDB();
  try {
    const read = async (sql: string) =>
      (await duck.connection.runAndReadAll(sql)).getColumnsObjectJS() as Record<string, unknown[]>;
    const e =
      eventKeys.length === 0 ? undefined : await read(EVENTS_SQL(path.join(root, eventsPrefix, '*.parquet')));
    const s =
      sessionKeys.length === 0
        ? undefined
        : await read(SESSIONS_SQL(path.join(root, sessionsPrefix, '*.parquet')));
    const col = <T>(cols: Record<string, unknown[]> | undefined, name: string): T[] =>
      (cols?.[name] ?? []) as T[];
    return {
      date,
      events: {
        idempotencyKey: col(e, 'idempotency_key'),
        eventId: col(e, 'event_id'),
        userId: col(e, 'user_id'),
        sessionId: col(e, 'session_id'),
        eventType: col(e, 'event_type'),
        eventTimestamp: col(e, 'event_timestamp'),
        deviceType: col(e, 'device_type'),
        ipAddress: col(e, 'ip_address'),
        schemaVersion: col(e, 'schema_version'),
        payload: col(e, 'payload'),
        totalAmount: col(e, 'total_amount'),
        quantity: col(e, 'quantity'),
        currency: col(e, 'currency'),
      },
      sessions: {
        sessionId: col(s, 'session_id'),
        userId: col(s, 'user_id'),
        sessionStart: col(s, 'session_start'),
        sessionEnd: col(s, 'session_end'),
        eventCount: col(s, 'event_count'),
        pageViews: col(s, 'page_views'),
        purchases: col(s, 'purchases'),
        paymentFailures: col(s, 'payment_failures'),
        signups: col(s, 'signups'),
        eventTypes: col(s, 'event_types'),
        firstDeviceType: col(s, 'first_device_type'),
        firstEventId: col(s, 'first_event_id'),
        durationSeconds: col(s, 'duration_seconds'),
      },
    };
  } finally {
    duck.connection.closeSync();
    duck.instance.closeSync();
    if (temp !== undefined) await rm(temp, { recursive: true, force: true });
  }
}

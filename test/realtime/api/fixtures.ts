/**
 * Helpers for the API tests: seeding windows and state with plain SQL, an API built on a test
 * database with a fresh registry, sinks that record or fail, and reading a topic back.
 */
import { randomUUID } from 'node:crypto';
import { createServer } from 'node:net';
import type { FastifyInstance } from 'fastify';
import type pg from 'pg';
import { Registry } from 'prom-client';
import { type ApiDeps, buildApi } from '../../../src/realtime/api/index.ts';
import type { Bus, BusRecord, OutgoingMessage, Sink } from '../../../src/bus/index.ts';
import { BusUnavailableError } from '../../../src/errors.ts';
import { createPool } from '../../../src/db/index.ts';
import { silentLogger } from '../../../src/telemetry/logger.ts';

export interface SeedWindow {
  window_start: string;
  stream_id: string;
  active_viewers: number;
  chat_messages: number;
  donations_usd: number;
  donation_count: number;
  viewer_joins: number;
  viewer_leaves: number;
  events: number;
  is_final: boolean;
}

export async function insertWindows(pool: pg.Pool, windows: readonly SeedWindow[]): Promise<void> {
  for (const w of windows) {
    await pool.query(
      `INSERT INTO stream_metrics_minute (window_start, stream_id, window_end, active_viewers, chat_messages,
         donations_usd, donation_count, viewer_joins, viewer_leaves, events, is_final, updated_at)
       VALUES ($1, $2, $1::timestamptz + interval '1 minute', $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
      [
        w.window_start,
        w.stream_id,
        w.active_viewers,
        w.chat_messages,
        w.donations_usd,
        w.donation_count,
        w.viewer_joins,
        w.viewer_leaves,
        w.events,
        w.is_final,
        UPDATED_AT,
      ],
    );
  }
  // The results writer keeps the read summaries; rows seeded by hand get them from the same SQL.
  await pool.query('SELECT rebuild_stream_summaries()');
}

/** The updated_at every seeded row gets, so responses can be compared exactly. */
export const UPDATED_AT = '2024-03-01T12:05:00.000Z';

/** ISO time `minutes` after `base`. */
export function addMinutes(base: string, minutes: number): string {
  return new Date(Date.parse(base) + minutes * 60_000).toISOString();
}

export interface TestApi {
  app: FastifyInstance;
  registry: Registry;
}

export async function buildTestApi(deps: Partial<ApiDeps> & Pick<ApiDeps, 'pool'>): Promise<TestApi> {
  const registry = deps.registry ?? new Registry();
  const app = await buildApi({
    sink: new RecordingSink(),
    topic: 'stream.events',
    logger: silentLogger(),
    cacheTtlMs: 0,
    // Requests answer from the windows in memory wherever they hold the rows (as in production once loaded).
    awaitWindows: true,
    ...deps,
    registry,
  });
  return { app, registry };
}

/** A Sink that keeps what it was sent. */
export class RecordingSink implements Sink {
  readonly sent: { topic: string; messages: OutgoingMessage[] }[] = [];

  async send(topic: string, messages: readonly OutgoingMessage[]): Promise<void> {
    this.sent.push({ topic, messages: [...messages] });
  }

  async close(): Promise<void> {}

  get messages(): OutgoingMessage[] {
    return this.sent.flatMap((s) => s.messages);
  }
}

/** A Sink whose log is down: every send fails with a retriable BusUnavailableError. */
export class UnavailableSink implements Sink {
  attempts = 0;

  async send(): Promise<void> {
    this.attempts++;
    throw new BusUnavailableError('embedded log: disk is full (injected)');
  }

  async close(): Promise<void> {}
}

/** A port nothing listens on (taken, then released). */
export async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === 'string') throw new Error('no port');
  return address.port;
}

/** A pool to a database that is down (a closed port): every query fails with ECONNREFUSED. */
export async function deadPool(): Promise<pg.Pool> {
  return createPool(`postgres://rtsa:rtsa@127.0.0.1:${await closedPort()}/nowhere`, 2);
}

/**
 * Reads `topic` from the start until `count` records arrived (or fails after a deadline); `total`
 * is the number of records in the topic then (end offsets), to prove nothing else was appended.
 */
export async function readTopic(
  bus: Bus,
  topic: string,
  count: number,
  deadlineMs = 10_000,
): Promise<{ records: BusRecord[]; total: number }> {
  const records: BusRecord[] = [];
  const source = bus.source({ topic, group: `api-test-${randomUUID()}`, idleIntervalMs: 20 });
  let wake = () => {};
  await source.start({
    assigned: async (partitions) => new Map(partitions.map((p) => [p, 0])),
    revoked: async () => {},
    records: async (batch) => {
      records.push(...batch);
      wake();
    },
    idle: async () => wake(),
  });
  const deadline = Date.now() + deadlineMs;
  let total = 0;
  try {
    while (records.length < count) {
      if (Date.now() > deadline) throw new Error(`read ${records.length} of ${count} records of ${topic}`);
      await new Promise<void>((resolve) => {
        wake = resolve;
        setTimeout(resolve, 50).unref();
      });
    }
    for (const end of (await source.endOffsets()).values()) total += end;
  } finally {
    await source.stop();
  }
  return { records, total };
}

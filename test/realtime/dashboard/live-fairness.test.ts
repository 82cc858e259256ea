/**
 * The dashboard feed is shared (issue 11): one client's parameters cannot degrade what the other
 * viewers see. One address cannot take every live connection, and a long lookback on one stream
 * costs that stream's rows only.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type pg from 'pg';
import { silentLogger } from '../../../src/telemetry/logger.ts';
import {
  LiveHub,
  LiveHubAddressLimitError,
  LiveHubFullError,
} from '../../../src/realtime/dashboard/live-hub.ts';
import { createTestDatabase, type TestDatabase } from '../../helpers/postgres.ts';

let db: TestDatabase;

before(async () => {
  db = await createTestDatabase('live_fair');
  await db.pool.query(`
    INSERT INTO stream_metrics_minute (window_start, stream_id, window_end, active_viewers, chat_messages,
      donations_usd, donation_count, viewer_joins, viewer_leaves, events, is_final)
    SELECT t, s, t + interval '1 minute', 1, 1, 0, 0, 0, 0, 1, true
    FROM generate_series(timestamptz '2026-05-01 00:00Z', timestamptz '2026-05-01 05:59Z', interval '1 minute') t,
         (VALUES ('long'), ('short')) v(s)`);
  await db.pool.query('SELECT rebuild_stream_summaries()');
});

after(async () => {
  await db.drop();
});

test('Regression: one address cannot take every live connection (429 for it, others still join)', async () => {
  const hub = new LiveHub({
    pool: db.pool,
    logger: silentLogger(),
    maxClients: 5,
    maxClientsPerAddress: 3,
    intervalMs: 60_000,
  });
  const mine = [1, 2, 3].map(() => hub.join({ streamId: undefined, minutes: 30, address: '10.0.0.1' }));
  assert.throws(
    () => hub.join({ streamId: undefined, minutes: 30, address: '10.0.0.1' }),
    LiveHubAddressLimitError,
  );
  const other = hub.join({ streamId: undefined, minutes: 30, address: '10.0.0.2' });
  mine[0]!.destroy();
  await new Promise((r) => setImmediate(r));
  const again = hub.join({ streamId: undefined, minutes: 30, address: '10.0.0.1' });
  hub.join({ streamId: undefined, minutes: 30, address: '10.0.0.3' });
  assert.throws(
    () => hub.join({ streamId: undefined, minutes: 30, address: '10.0.0.4' }),
    (e: unknown) => {
      return e instanceof LiveHubFullError && !(e instanceof LiveHubAddressLimitError);
    },
  );
  for (const s of [...mine, other, again]) s.destroy();
  await hub.close();
});

test("Regression: a long lookback on one stream does not lengthen other streams' reads", async () => {
  const seen: unknown[][] = [];
  const spy = {
    query: (text: string, values?: unknown[]) => {
      if (text.includes('unnest($1::text[], $3::int[])')) seen.push(values ?? []);
      return db.pool.query(text, values);
    },
  } as unknown as pg.Pool;
  const hub = new LiveHub({ pool: spy, logger: silentLogger(), intervalMs: 20 });
  const frames: string[] = [];
  const short = hub.join({ streamId: 'short', minutes: 5, address: 'a' });
  const long = hub.join({ streamId: 'long', minutes: 360, address: 'b' });
  short.on('data', (chunk: Buffer) => frames.push(String(chunk)));
  long.resume();
  const deadline = Date.now() + 10_000;
  while (!frames.some((f) => f.includes('"selected":"short","stream":{')) && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 20));
  }
  short.destroy();
  long.destroy();
  await hub.close();
  const last = seen.at(-1) as [string[], Date, number[]];
  const minutesOf = new Map(last[0].map((id, i) => [id, last[2][i]]));
  assert.equal(minutesOf.get('short'), 5, 'the short stream is read 5 minutes back');
  assert.equal(minutesOf.get('long'), 360);
});

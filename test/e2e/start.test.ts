/**
 * `rtsa start` as a user runs it: a child process on a fresh data folder, events posted over
 * HTTP, Ctrl-C, a restart that continues the same windows, and a kill -9 followed by a restart.
 */
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import {
  exitOf,
  freePort,
  spawnRtsa,
  stopOrphanPostgres,
  until,
  waitHealthy,
} from '../helpers/rtsa-child.ts';

let dir: string;
let port: number;
let child: ChildProcess | undefined;

before(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'rtsa-e2e-'));
  port = await freePort();
});

after(async () => {
  child?.kill('SIGKILL');
  if (child) await exitOf(child);
  await stopOrphanPostgres(dir);
  await rm(dir, { recursive: true, force: true });
});

function start(): ChildProcess {
  const c = spawnRtsa(
    [
      'start',
      '--data-dir',
      dir,
      '--port',
      String(port),
      '--no-generator',
      '--log-format',
      'json',
      '--flush-interval',
      '100ms',
    ],
    { output: 'inherit' },
  ).proc;
  child = c;
  return c;
}

const base = () => `http://127.0.0.1:${port}`;

async function post(body: string): Promise<{ status: number; json: Record<string, unknown> }> {
  const res = await fetch(`${base()}/events`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-ndjson' },
    body,
  });
  return { status: res.status, json: (await res.json()) as Record<string, unknown> };
}

async function latest(): Promise<Record<string, unknown> | undefined> {
  const res = await fetch(`${base()}/metrics/latest?stream_id=e2e_stream`);
  const body = (await res.json()) as { rows: Record<string, unknown>[] };
  return body.rows[0];
}

test('start, ingest, Ctrl-C, restart, kill -9, restart: nothing lost or doubled', {
  timeout: 180_000,
}, async () => {
  const ts = new Date().toISOString();
  const event = (id: string, type: string, extra: Record<string, unknown> = {}) =>
    JSON.stringify({
      event_id: id,
      ts,
      event_type: type,
      stream_id: 'e2e_stream',
      user_id: `u_${id}`,
      ...extra,
    });

  let c = start();
  await waitHealthy(base());
  const first = await post(
    [
      event('d1', 'donation', { amount_usd: 25 }),
      event('j1', 'viewer_join'),
      '{"broken',
      event('bad', 'donation', { amount_usd: -5 }),
    ].join('\n'),
  );
  assert.equal(first.status, 202);
  assert.equal(first.json.accepted, 2);
  assert.equal(first.json.rejected, 2);
  await until(
    'donation visible',
    async () => ((await latest())?.donations_usd === 25 ? true : undefined),
    10_000,
  );

  c.kill('SIGINT');
  assert.equal(await exitOf(c), 0, 'Ctrl-C exits cleanly');

  c = start();
  await waitHealthy(base());
  assert.equal((await latest())?.donations_usd, 25, 'data survives a restart');
  assert.equal(
    (
      await post(
        [event('d2', 'donation', { amount_usd: 5 }), event('d1', 'donation', { amount_usd: 25 })].join('\n'),
      )
    ).status,
    202,
  );
  const row = await until('second donation', async () => {
    const r = await latest();
    return r?.donation_count === 2 ? r : undefined;
  });
  assert.equal(
    row.donations_usd,
    30,
    'the window continues across the restart; the re-sent d1 is counted once',
  );
  assert.equal(row.active_viewers, 1);

  c.kill('SIGKILL');
  await exitOf(c);
  c = start();
  await waitHealthy(base());
  assert.equal((await post(event('c1', 'chat_message'))).status, 202);
  const after = await until('chat after kill -9', async () => {
    const r = await latest();
    return r?.chat_messages === 1 ? r : undefined;
  });
  assert.equal(after.donations_usd, 30);
  assert.equal(after.donation_count, 2);
  // An event far behind the watermark is accepted into the log, with a warning that it is late.
  await post(event('recent', 'chat_message'));
  const old = JSON.stringify({
    event_id: 'old',
    ts: '2020-01-01T00:00:00Z',
    event_type: 'chat_message',
    stream_id: 'e2e_stream',
    user_id: 'u',
  });
  const late = await until('the watermark known to the API', async () => {
    const r = await post(old.replace('"old"', `"old${Date.now()}"`));
    return (r.json.warnings as unknown[] | undefined)?.length ? r : undefined;
  });
  assert.equal(late.status, 202);
  assert.deepEqual(
    (late.json.warnings as { reason: string }[]).map((w) => w.reason),
    ['late'],
  );
  c.kill('SIGINT');
  assert.equal(await exitOf(c), 0);
});

/**
 * `rtsa serve` on its own, on a fresh data folder (no processor or lake writer has ever run there):
 * POST /events takes both systems' events. Regression: a live-stream event answered 500, because
 * only the processor created the live topic in the embedded log.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { freePort, spawnRtsa, stopOrphanPostgres, waitHealthy } from '../helpers/rtsa-child.ts';

test('rtsa serve alone on a fresh data folder accepts live-stream and commerce events', {
  timeout: 120_000,
}, async () => {
  const dir = await mkdtemp(path.join(tmpdir(), 'rtsa-serve-alone-'));
  const port = await freePort();
  const serve = spawnRtsa(['serve', '--data-dir', dir, '--port', String(port), '--log-level', 'warn']);
  const base = `http://127.0.0.1:${port}`;
  try {
    await waitHealthy(base, 60_000, serve.tail);
    const now = new Date().toISOString();
    const post = (event: Record<string, unknown>) =>
      fetch(`${base}/events`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(event),
      });
    const live = await post({
      event_id: 'serve-alone-1',
      stream_id: 'stream_1',
      user_id: 'viewer_1',
      event_type: 'chat_message',
      ts: now,
      payload: { message: 'hello' },
    });
    const liveBody = await live.text();
    assert.equal(live.status, 202, `${liveBody}\n${serve.tail()}`);
    assert.deepEqual(JSON.parse(liveBody), { accepted: 1, rejected: 0, errors: [] });
    const commerce = await post({
      event_id: 'serve-alone-2',
      idempotency_key: 'serve-alone-2',
      user_id: 'user_1',
      event_type: 'page_view',
      timestamp: now,
      device_type: 'mobile',
      ip_address: '10.0.0.1',
      schema_version: 'v1',
      payload: { page_url: 'https://shop.example/p/1', session_id: 'sess_1' },
    });
    assert.equal(commerce.status, 202, `${await commerce.text()}\n${serve.tail()}`);
    assert.doesNotMatch(serve.output(), /request failed/);
  } finally {
    await serve.stop();
    await stopOrphanPostgres(dir);
    await rm(dir, { recursive: true, force: true });
  }
});

/**
 * The live commerce feed end to end: events appended to the embedded log reach every viewer of
 * GET /kpi/feed on a listening server (two viewers, each sees every event, only what silver keeps:
 * no invalid, duplicate or late record, nothing from before the feed started); and the fan-out keeps
 * a viewer that does not read bounded (it skips frames, is told how many events it missed, and is
 * closed after slowClientMs) while the others get everything.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { PassThrough } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { EmbeddedBus } from '../../../src/bus/embedded/index.ts';
import {
  type CommerceFeed,
  type FeedEvent,
  FeedHub,
  kpiApi,
  startCommerceFeed,
} from '../../../src/lakehouse/serving/index.ts';
import { silentLogger } from '../../../src/telemetry/logger.ts';
import { createTestDatabase, type TestDatabase } from '../../helpers/postgres.ts';
import { buildTestApi } from '../../realtime/api/fixtures.ts';

const TOPIC = 'events_raw';
const LATENESS_MS = 10 * 60_000;

function commerceEvent(
  user: string,
  ms: number,
  over: Record<string, unknown> = {},
): Record<string, unknown> {
  return {
    event_id: randomUUID(),
    idempotency_key: randomUUID(),
    user_id: user,
    timestamp: new Date(ms).toISOString(),
    event_type: 'purchase',
    device_type: 'mobile',
    ip_address: '10.0.0.1',
    schema_version: 'v1',
    payload: {
      transaction_id: `TXN-${randomUUID()}`,
      product_id: 'PROD-1',
      quantity: 2,
      unit_price: 10,
      total_amount: 20,
      currency: 'EUR',
    },
    ...over,
  };
}

async function until<T>(what: string, fn: () => T | undefined, ms = 20_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = fn();
    if (v !== undefined) return v;
    assert.ok(Date.now() < deadline, `timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** A viewer reading the feed over HTTP: the event ids of its frames, and the named events it got. */
class Viewer {
  readonly ids: string[] = [];
  readonly named: string[] = [];
  readonly status: Promise<number>;
  private readonly controller = new AbortController();

  constructor(url: string) {
    this.status = fetch(url, { signal: this.controller.signal }).then((res) => {
      void this.read(res.body!).catch(() => {});
      return res.status;
    });
  }

  private async read(body: ReadableStream<Uint8Array>): Promise<void> {
    const decoder = new TextDecoder();
    let buffer = '';
    for await (const chunk of body) {
      buffer += decoder.decode(chunk, { stream: true });
      let end = buffer.indexOf('\n\n');
      while (end >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        end = buffer.indexOf('\n\n');
        const event = /^event: (.*)$/m.exec(block)?.[1];
        const data = /^data: (.*)$/m.exec(block)?.[1];
        if (event !== undefined) this.named.push(event);
        if (data === undefined || (event !== undefined && event !== 'recent')) continue;
        for (const e of (JSON.parse(data) as { events: FeedEvent[] }).events) this.ids.push(e.event_id);
      }
    }
  }

  close(): void {
    this.controller.abort();
  }
}

/** An embedded log in `dir` with the commerce topic (2 partitions). */
async function commerceLog(dir: string): Promise<EmbeddedBus> {
  const bus = new EmbeddedBus({ dir, fsync: 'never', retentionMs: 86_400_000, segmentBytes: 1 << 20 });
  await bus.ensureTopic(TOPIC, 2);
  return bus;
}

/** Appends events (a string goes as it is: a bad line), keyed by user_id. */
function sendTo(bus: EmbeddedBus, events: (Record<string, unknown> | string)[]) {
  return bus.sink().send(
    TOPIC,
    events.map((e) =>
      typeof e === 'string' ? { key: 'bad', value: e } : { key: String(e.user_id), value: JSON.stringify(e) },
    ),
  );
}

function feedOf(bus: EmbeddedBus, hub: FeedHub): Promise<CommerceFeed> {
  return startCommerceFeed({
    bus,
    topic: TOPIC,
    hub,
    logger: silentLogger(),
    allowedLatenessMs: LATENESS_MS,
  });
}

test('a feed started on a log with events: a copy or a late event of them is kept out, as without a restart', {
  timeout: 60_000,
}, async () => {
  const dir = await mkdtemp(path.join(tmpdir(), 'rtsa-feed-restart-'));
  const bus = await commerceLog(dir);
  let feed: CommerceFeed | undefined;
  try {
    const now = Date.now();
    const sendAll = (events: Record<string, unknown>[]) => sendTo(bus, events);
    // What an earlier run of the API already showed.
    const earlier = commerceEvent('u1', now);
    const before = [commerceEvent('u1', now - 60_000), earlier, commerceEvent('u2', now)];
    await sendAll(before);
    const shown: FeedEvent[] = [];
    const remembered: FeedEvent[] = [];
    const hub = {
      publish: (events: readonly FeedEvent[]) => shown.push(...events),
      remember: (events: readonly FeedEvent[]) => remembered.push(...events),
    } as unknown as FeedHub;
    feed = await feedOf(bus, hub);
    const copy = { ...earlier, event_id: randomUUID() };
    const late = commerceEvent('u1', now - 2 * LATENESS_MS);
    const fresh = commerceEvent('u1', now + 1_000);
    await sendAll([copy, late, fresh]);
    await until('the fresh event', () =>
      shown.some((e) => e.event_id === fresh.event_id) ? true : undefined,
    );
    assert.deepEqual(
      shown.map((e) => e.event_id),
      [fresh.event_id],
      'only what came after the start, and of that only what silver keeps',
    );
    assert.deepEqual([feed.counters.accepted, feed.counters.duplicates, feed.counters.late], [1, 1, 1]);
    // What was shown before the restart is the recent events a viewer joining now sees first.
    assert.deepEqual(
      remembered.map((e) => e.event_id),
      before.map((e) => e.event_id),
    );
  } finally {
    await feed?.stop();
    await bus.close();
    await rm(dir, { recursive: true, force: true });
  }
});

describe('GET /kpi/feed end to end', () => {
  let db: TestDatabase;
  let dir: string;
  let bus: EmbeddedBus;
  let app: FastifyInstance;
  let feed: CommerceFeed;
  let hub: FeedHub;
  let base: string;
  const send = (events: (Record<string, unknown> | string)[]) => sendTo(bus, events);

  before(async () => {
    db = await createTestDatabase('feed');
    dir = await mkdtemp(path.join(tmpdir(), 'rtsa-feed-'));
    bus = await commerceLog(dir);
    // Before the feed starts: never shown.
    await send([commerceEvent('before', Date.now())]);
    hub = new FeedHub({ logger: silentLogger(), frameIntervalMs: 50, maxClientsPerAddress: 3 });
    feed = await feedOf(bus, hub);
    const built = await buildTestApi({ pool: db.pool });
    app = built.app;
    await app.register(kpiApi, { pool: db.pool, logger: silentLogger(), feed: hub });
    base = await app.listen({ port: 0, host: '127.0.0.1' });
  });
  after(async () => {
    await app?.close();
    await feed?.stop();
    await bus?.close();
    await rm(dir, { recursive: true, force: true });
    await db?.drop();
  });

  test('two viewers each see every event silver keeps, and nothing else', async () => {
    const a = new Viewer(`${base}/kpi/feed?recent=0`);
    const b = new Viewer(`${base}/kpi/feed?recent=0`);
    assert.equal(await a.status, 200);
    assert.equal(await b.status, 200);
    await until('both viewers joined', () => (hub.viewerCount === 2 ? true : undefined));
    const now = Date.now();
    const users = Array.from({ length: 40 }, (_, i) => `user_${i}`);
    const good = users.flatMap((u, i) => [
      commerceEvent(u, now - i * 1000),
      commerceEvent(u, now - i * 1000 + 1, {
        event_type: 'page_view',
        payload: { page_url: 'https://example.com/p', session_id: 's' },
      }),
    ]);
    const duplicate = { ...good[3]!, event_id: randomUUID() };
    const late = commerceEvent('user_0', now - 2 * LATENESS_MS);
    const invalid = commerceEvent('user_1', now, { currency: undefined, payload: { total_amount: -1 } });
    await send([...good.slice(0, 40), duplicate, '{not json', invalid, late, ...good.slice(40)]);
    const sentinel = commerceEvent('user_sentinel', now);
    await send([sentinel]);
    const expected = [...good, sentinel].map((e) => e.event_id as string).sort();
    for (const viewer of [a, b]) {
      await until('the sentinel', () =>
        viewer.ids.includes(sentinel.event_id as string) ? true : undefined,
      );
      assert.deepEqual([...viewer.ids].sort(), expected);
    }
    assert.equal(feed.counters.duplicates, 1);
    assert.equal(feed.counters.late, 1);
    assert.equal(feed.counters.invalid, 2);
    // A viewer who joins later first gets the newest events: the last five the others received
    // (the sentinel is not always among them: a frame may deliver the other partition's events
    // after it).
    const c = new Viewer(`${base}/kpi/feed?recent=5`);
    await until('recent events', () => (c.ids.length === 5 ? true : undefined));
    assert.deepEqual(c.ids, a.ids.slice(-5), 'the newest events, as the others received them');
    for (const v of [a, b, c]) v.close();
    await until('viewers gone', () => (hub.viewerCount === 0 ? true : undefined));
  });

  test('one address holds at most its share of connections: then 429 with Retry-After', async () => {
    const viewers = [1, 2, 3].map(() => new Viewer(`${base}/kpi/feed?recent=0`));
    for (const v of viewers) assert.equal(await v.status, 200);
    const res = await fetch(`${base}/kpi/feed`);
    assert.equal(res.status, 429);
    assert.equal(res.headers.get('retry-after'), '5');
    assert.equal(((await res.json()) as { error: string }).error, 'too_many_connections');
    for (const v of viewers) v.close();
    await until('viewers gone', () => (hub.viewerCount === 0 ? true : undefined));
  });

  test('the summary counts the feed: events in the last minute, viewers', async () => {
    const s = (await app.inject('/kpi/summary')).json();
    assert.equal(s.feed.available, true);
    assert.ok(s.feed.events_last_minute >= 81, String(s.feed.events_last_minute));
    const live = s.health.checks.find((c: { name: string }) => c.name === 'Live events');
    assert.equal(live.level, 'ok');
  });
});

describe('FeedHub: a viewer that does not read', () => {
  function events(n: number, tag: string): FeedEvent[] {
    return Array.from({ length: n }, (_, i) => ({
      event_id: `${tag}-${i}`,
      event_type: 'page_view',
      timestamp: new Date().toISOString(),
      user_id: `user_${i}`,
      device_type: 'desktop',
      page_url: `https://example.com/${'x'.repeat(200)}`,
    }));
  }

  /** Reads everything written to `out` as text. */
  function drain(out: PassThrough): { text: () => string } {
    let text = '';
    out.on('data', (chunk: Buffer) => {
      text += chunk.toString();
    });
    return { text: () => text };
  }

  test('remembered events (read before a restart) greet a viewer as recent, and are neither sent live nor counted', async () => {
    const hub = new FeedHub({ logger: silentLogger(), frameIntervalMs: 5, recentSize: 3 });
    const live = drain(hub.join({ recent: 0 }));
    hub.remember(events(5, 'before'));
    const joined = drain(hub.join({ recent: 10 }));
    await new Promise((r) => setTimeout(r, 30));
    const recentFrame = joined.text().match(/event: recent\ndata: (.*)\n/);
    assert.ok(recentFrame, joined.text());
    assert.deepEqual(
      (JSON.parse(recentFrame[1]!) as { events: FeedEvent[] }).events.map((e) => e.event_id),
      ['before-2', 'before-3', 'before-4'],
      'the newest, at most recentSize',
    );
    assert.doesNotMatch(live.text(), /before-/, 'not sent to a viewer already there');
    assert.equal(hub.stats.events, 0, 'not counted as published');
    hub.close();
  });

  test('skips frames while its buffer is full, then says how many events it missed; memory stays bounded', async () => {
    const max = 64 * 1024;
    const hub = new FeedHub({
      logger: silentLogger(),
      frameIntervalMs: 5,
      maxBufferedBytes: max,
      slowClientMs: 60_000,
    });
    const slow = hub.join({ recent: 0 });
    const fast = drain(hub.join({ recent: 0 }));
    let published = 0;
    let frameBytes = 0;
    for (let round = 0; round < 60; round++) {
      const batch = events(100, `r${round}`);
      frameBytes = Math.max(frameBytes, Buffer.byteLength(JSON.stringify(batch)) + 64);
      hub.publish(batch);
      published += batch.length;
      await until('the frame', () => (hub.stats.frames === round + 1 ? true : undefined));
      assert.ok(
        slow.writableLength <= max + frameBytes + 256,
        `slow viewer holds ${slow.writableLength} bytes`,
      );
    }
    assert.ok(hub.stats.skippedEvents > published / 2, `skipped ${hub.stats.skippedEvents} of ${published}`);
    const fastIds = fast.text().match(/"event_id":"r\d+-\d+"/g) ?? [];
    assert.equal(fastIds.length, published, 'the reading viewer got every event');
    // It reads again: it gets what was buffered, then a marker with the number missed, then live frames.
    const slowText = drain(slow);
    hub.publish(events(1, 'after'));
    await until('the next frame', () => (slowText.text().includes('"after-0"') ? true : undefined));
    const marker = /event: skipped\ndata: \{"skipped_events":(\d+)\}/.exec(slowText.text());
    assert.ok(marker, 'a skipped marker');
    const delivered = (slowText.text().match(/"event_id":"r\d+-\d+"/g) ?? []).length;
    assert.equal(delivered + Number(marker[1]), published, 'delivered + skipped = published');
    hub.close();
  });

  test('is closed after slowClientMs without draining', async () => {
    const hub = new FeedHub({
      logger: silentLogger(),
      frameIntervalMs: 5,
      maxBufferedBytes: 1024,
      slowClientMs: 50,
    });
    const slow = hub.join({ recent: 0 });
    let round = 0;
    await until('the slow viewer dropped', () => {
      hub.publish(events(20, `d${round++}`));
      return slow.destroyed ? true : undefined;
    });
    assert.equal(hub.stats.dropped, 1);
    await until('viewer gone', () => (hub.viewerCount === 0 ? true : undefined));
    hub.close();
  });
});

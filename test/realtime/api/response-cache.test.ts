/** The response cache: sharing within the TTL, no stampede, failures not cached, bounded size. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { cacheKey, ResponseCache } from '../../../src/realtime/api/response-cache.ts';

test('identical keys within the TTL share one load; concurrent callers share the pending one', async () => {
  const cache = new ResponseCache(60_000);
  let loads = 0;
  let release = () => {};
  const gate = new Promise<void>((resolve) => {
    release = resolve;
  });
  const load = async () => {
    loads++;
    await gate;
    return `body-${loads}`;
  };
  const pending = [cache.get('k', load), cache.get('k', load), cache.get('k', load)];
  release();
  assert.deepEqual(await Promise.all(pending), ['body-1', 'body-1', 'body-1']);
  assert.equal(await cache.get('k', load), 'body-1');
  assert.equal(await cache.get('other', load), 'body-2');
  assert.equal(loads, 2);
});

test('a TTL of 0 turns caching off', async () => {
  const cache = new ResponseCache(0);
  let loads = 0;
  const load = async () => String(++loads);
  await cache.get('k', load);
  await cache.get('k', load);
  assert.equal(loads, 2);
  assert.equal(cache.size, 0);
});

test('failures are not cached', async () => {
  const cache = new ResponseCache(60_000);
  await assert.rejects(
    cache.get('k', async () => {
      throw new Error('database down');
    }),
    /database down/,
  );
  assert.equal(await cache.get('k', async () => 'ok'), 'ok');
});

test('entries expire after the TTL', async () => {
  let now = 0;
  const cache = new ResponseCache(250, { clock: () => now });
  let loads = 0;
  const load = async () => String(++loads);
  await cache.get('k', load);
  now = 249;
  await cache.get('k', load);
  assert.equal(loads, 1);
  now = 250;
  await cache.get('k', load);
  assert.equal(loads, 2);
});

test('at most maxEntries keys are kept, the oldest dropped first', async () => {
  const cache = new ResponseCache(60_000, { maxEntries: 3 });
  for (const key of ['a', 'b', 'c', 'd']) await cache.get(key, async () => key);
  assert.equal(cache.size, 3);
  let reloaded = false;
  await cache.get('a', async () => {
    reloaded = true;
    return 'a';
  });
  assert.ok(reloaded, 'the oldest key was evicted');
});

test('cache keys are unambiguous', () => {
  assert.notEqual(cacheKey('/m', 'a,b', undefined), cacheKey('/m', 'a', 'b'));
  assert.notEqual(cacheKey('/m', 1, undefined), cacheKey('/m', 1, 'undefined'));
});

test('with a data version, an entry ends when the version changes, even within the TTL', async () => {
  let version: number | undefined = 1;
  const cache = new ResponseCache(60_000, { clock: () => 0, version: () => version });
  let loads = 0;
  const load = async () => String(++loads);
  assert.equal(await cache.get('k', load), '1');
  assert.equal(await cache.get('k', load), '1', 'same version: shared');
  version = 2;
  assert.equal(await cache.get('k', load), '2', 'a change heard since: made again');
  assert.equal(await cache.get('k', load), '2');
  version = undefined;
  assert.equal(await cache.get('k', load), '3', 'no version (memory not serving): not the versioned entry');
  assert.equal(await cache.get('k', load), '3', 'then the TTL alone');
  version = 2;
  assert.equal(await cache.get('k', load), '4', 'an entry made without a version is not taken for one');
});

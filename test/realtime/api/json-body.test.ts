/** Serialized bodies: content-coding negotiation (zstd, gzip) and the bytes sent. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { gunzipSync, zstdDecompressSync } from 'node:zlib';
import { acceptsGzip, JsonBody, ONE_OFF_GZIP_MIN_BYTES, pickEncoding } from '../../../src/http/json-body.ts';

test('Accept-Encoding: gzip or * without q=0', () => {
  assert.equal(acceptsGzip(undefined), false);
  assert.equal(acceptsGzip(''), false);
  assert.equal(acceptsGzip('gzip'), true);
  assert.equal(acceptsGzip('br, GZIP;q=0.5, deflate'), true);
  assert.equal(acceptsGzip('*'), true);
  assert.equal(acceptsGzip('gzip;q=0'), false);
  assert.equal(acceptsGzip('gzip;q=0.0, identity'), false);
  assert.equal(acceptsGzip('deflate, br'), false);
  assert.equal(acceptsGzip('x-gzip'), false);
  assert.equal(acceptsGzip('gzip;q=0, *'), false, 'gzip refused by name');
});

test('zstd when the client names it at least as gladly as gzip; gzip otherwise', () => {
  assert.equal(pickEncoding(undefined), undefined);
  assert.equal(pickEncoding('identity'), undefined);
  assert.equal(pickEncoding('gzip, deflate'), 'gzip', "Node's fetch");
  assert.equal(pickEncoding('gzip, deflate, br, zstd'), 'zstd', 'Chromium, Firefox');
  assert.equal(pickEncoding('ZSTD'), 'zstd');
  assert.equal(pickEncoding('zstd;q=0.5, gzip'), 'gzip');
  assert.equal(pickEncoding('zstd, gzip;q=0.5'), 'zstd');
  assert.equal(pickEncoding('zstd;q=0, gzip'), 'gzip');
  assert.equal(pickEncoding('zstd;q=0, gzip;q=0'), undefined);
  assert.equal(pickEncoding('*'), 'gzip', '* alone does not pick zstd');
  assert.equal(pickEncoding('zstd;q=bad'), undefined);
});

test('a body is serialized once and gzipped once', () => {
  const value = { rows: Array.from({ length: 100 }, (_, i) => ({ stream_id: `s${i}`, n: i })) };
  const body = new JsonBody(value);
  assert.deepEqual(JSON.parse(body.bytes.toString()), value);
  const gz = body.gzip();
  assert.equal(body.gzip(), gz, 'the same buffer');
  assert.deepEqual(gunzipSync(gz), body.bytes);
  assert.ok(gz.length < body.bytes.length);
  const zst = body.encoded('zstd');
  assert.equal(body.encoded('zstd'), zst, 'the same buffer');
  assert.deepEqual(zstdDecompressSync(zst), body.bytes);
  assert.ok(zst.length < body.bytes.length);
  assert.equal(JsonBody.fromJson('{"a":1}').bytes.toString(), '{"a":1}');
});

test('gzip when it pays: a body sent again, or one larger than the initial congestion window', () => {
  const rows = (n: number) => ({
    rows: Array.from({ length: n }, (_, i) => ({ stream_id: `stream-${i}`, n: i })),
  });
  const tiny = JsonBody.fromJson(JSON.stringify(rows(2)));
  assert.ok(tiny.bytes.length < 1024);
  assert.equal(tiny.compressThisSend(), false);
  assert.equal(tiny.compressThisSend(), false, 'never below 1 kB');

  const page = JsonBody.fromJson(JSON.stringify(rows(200)));
  assert.ok(page.bytes.length >= 1024 && page.bytes.length < ONE_OFF_GZIP_MIN_BYTES, `${page.bytes.length}`);
  assert.equal(page.compressThisSend(), false, 'a one-off page within one round trip goes as it is');
  assert.equal(page.compressThisSend(), true, 'sent again (a cache hit): compressed once, reused');
  assert.equal(page.compressThisSend(), true);

  const big = new JsonBody(rows(2000));
  assert.ok(big.bytes.length >= ONE_OFF_GZIP_MIN_BYTES);
  assert.equal(big.compressThisSend(), true, 'larger than the first window: compressed on its first send');
});

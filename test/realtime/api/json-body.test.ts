/** Serialized bodies: gzip negotiation and the bytes sent. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { gunzipSync } from 'node:zlib';
import { acceptsGzip, JsonBody } from '../../../src/http/json-body.ts';

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
});

test('a body is serialized once and gzipped once', () => {
  const value = { rows: Array.from({ length: 100 }, (_, i) => ({ stream_id: `s${i}`, n: i })) };
  const body = new JsonBody(value);
  assert.deepEqual(JSON.parse(body.bytes.toString()), value);
  const gz = body.gzip();
  assert.equal(body.gzip(), gz, 'the same buffer');
  assert.deepEqual(gunzipSync(gz), body.bytes);
  assert.ok(gz.length < body.bytes.length);
});

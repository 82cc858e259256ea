import assert from 'node:assert/strict';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, beforeEach, test } from 'node:test';
import type { OutgoingMessage, Sink } from '../../src/bus/types.ts';
import { ConfigError, isRetriable, RtsaError } from '../../src/errors.ts';
import { SETTINGS } from '../../src/config/schema.ts';
import {
  createEventGenerator,
  httpOutput,
  parseWeights,
  runGenerator,
  sinkOutput,
} from '../../src/generator/index.ts';

interface Received {
  method: string | undefined;
  url: string | undefined;
  headers: IncomingHttpHeaders;
  body: string;
}

/** A tiny stand-in for POST /events: answers each request with the next scripted reply. */
let server: Server;
let baseUrl: string;
let received: Received[] = [];
let replies: { status: number; body: unknown }[] = [];

before(async () => {
  server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      received.push({ method: req.method, url: req.url, headers: req.headers, body });
      const lines = body.split('\n').filter((l) => l !== '').length;
      const reply = replies.shift() ?? { status: 202, body: { accepted: lines, rejected: 0, errors: [] } };
      res.writeHead(reply.status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(reply.body));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
after(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});
beforeEach(() => {
  received = [];
  replies = [];
});

const messages = [
  { key: 'stream_1001', value: '{"event_id":"a"}' },
  { key: '', value: Buffer.from('not json') },
];

test('httpOutput posts NDJSON to <api>/events with the bearer token; 202 is success', async () => {
  const output = httpOutput(`${baseUrl}/`, 's3cret');
  await output.send(messages);
  await output.close();
  assert.equal(received.length, 1);
  const [request] = received;
  assert.equal(request?.method, 'POST');
  assert.equal(request?.url, '/events');
  assert.equal(request?.headers['content-type'], 'application/x-ndjson');
  assert.equal(request?.headers.authorization, 'Bearer s3cret');
  assert.equal(request?.body, '{"event_id":"a"}\nnot json\n');
});

test('httpOutput sends no Authorization header without a token, and keeps a base path', async () => {
  await httpOutput(`${baseUrl}/rtsa`).send(messages);
  assert.equal(received[0]?.url, '/rtsa/events');
  assert.equal(received[0]?.headers.authorization, undefined);
});

test('httpOutput splits a large batch into requests in order', async () => {
  const many = Array.from({ length: 100 }, (_, i) => ({ key: 'k', value: `{"n":${i}}` }));
  await httpOutput(baseUrl, undefined, { maxBodyBytes: 200 }).send(many);
  assert.ok(received.length > 1);
  assert.ok(received.every((r) => Buffer.byteLength(r.body) <= 200));
  const lines = received.flatMap((r) => r.body.split('\n').filter((l) => l !== ''));
  assert.deepEqual(
    lines,
    many.map((m) => m.value),
  );
});

test('httpOutput: 503 and 500 are retriable', async () => {
  for (const status of [503, 500]) {
    replies.push({ status, body: { message: 'database unavailable' } });
    await assert.rejects(
      httpOutput(baseUrl).send(messages),
      (error: unknown) =>
        isRetriable(error) &&
        (error as RtsaError).code === 'BUS_UNAVAILABLE' &&
        /database unavailable/.test((error as Error).message),
    );
  }
});

test('httpOutput: a network error is retriable', async () => {
  const closed = createServer();
  await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
  const port = (closed.address() as AddressInfo).port;
  await new Promise((resolve) => closed.close(resolve));
  await assert.rejects(httpOutput(`http://127.0.0.1:${port}`).send(messages), (error: unknown) =>
    isRetriable(error),
  );
});

test('httpOutput: 400 listing every line as refused is delivery (the API dead-lettered them)', async () => {
  // A file's 2 MB line is sent alone and refused: the lines after it must still be sent.
  replies.push({
    status: 400,
    body: {
      accepted: 0,
      rejected: 2,
      errors: [
        { line: 1, reason: 'invalid_event', detail: 'ts: required' },
        { line: 2, reason: 'invalid_json', detail: 'Unexpected token' },
      ],
    },
  });
  await httpOutput(baseUrl).send(messages);
});

test('httpOutput: another 400 is not retriable and carries the server message', async () => {
  replies.push({ status: 400, body: { error: 'empty_body', message: 'the body holds no event' } });
  await assert.rejects(
    httpOutput(baseUrl).send(messages),
    (error: unknown) =>
      error instanceof RtsaError &&
      !isRetriable(error) &&
      error.code === 'EVENT_INVALID' &&
      error.message.includes('the body holds no event'),
  );
});

test('httpOutput: 401 names the ingest token setting', async () => {
  replies.push({ status: 401, body: { message: 'missing bearer token' } });
  await assert.rejects(
    httpOutput(baseUrl).send(messages),
    (error: unknown) =>
      error instanceof ConfigError && !isRetriable(error) && error.message.includes('RTSA_INGEST_TOKEN'),
  );
});

test('httpOutput refuses a URL that is not http(s), naming the setting', () => {
  assert.throws(
    () => httpOutput('localhost:8000'),
    (error: unknown) => error instanceof ConfigError && error.message.includes('RTSA_API_URL'),
  );
  assert.throws(() => httpOutput('not a url'), ConfigError);
});

test('runGenerator over httpOutput rides out 503s without loss or reordering', async () => {
  replies.push({ status: 503, body: { message: 'not durable yet' } }, { status: 503, body: {} });
  const weights = parseWeights(SETTINGS.weights.default);
  const make = () =>
    createEventGenerator({ streams: 3, users: 30, weights, seed: 9, badRate: 0.2, now: () => 0 });
  const stats = await runGenerator({
    generator: make(),
    rate: 5_000,
    count: 500,
    output: httpOutput(baseUrl),
    retry: { initialBackoffMs: 1, maxBackoffMs: 5 },
  });
  assert.equal(stats.sent, 500);
  assert.equal(stats.retries, 2);
  const delivered = received.slice(2).flatMap((r) => r.body.split('\n').filter((l) => l !== ''));
  assert.deepEqual(
    delivered,
    make()
      .take(500)
      .map((e) => e.value),
  );
  assert.equal(received[0]?.body, received[2]?.body, 'the refused batch is posted again unchanged');
});

test('sinkOutput appends to its topic and closes the sink', async () => {
  const appended: { topic: string; messages: readonly OutgoingMessage[] }[] = [];
  let closed = false;
  const sink: Sink = {
    async send(topic, batch) {
      appended.push({ topic, messages: batch });
    },
    async close() {
      closed = true;
    },
  };
  const output = sinkOutput(sink, 'stream.events');
  await output.send(messages);
  await output.close();
  assert.deepEqual(appended, [{ topic: 'stream.events', messages }]);
  assert.ok(closed);
});

import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { BusUnavailableError, ConfigError } from '../../src/errors.ts';
import { parseStreamEvent } from '../../src/events/index.ts';
import {
  type EventOutput,
  type FileProgress,
  type OutputMessage,
  produceFile,
} from '../../src/generator/index.ts';

let dir: string;
before(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'rtsa-produce-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

function recordingOutput(): EventOutput & { messages: OutputMessage[]; batches: number } {
  const out = {
    messages: [] as OutputMessage[],
    batches: 0,
    async send(messages: readonly OutputMessage[]) {
      out.batches++;
      out.messages.push(...messages);
    },
    async close() {},
  };
  return out;
}

const event = (id: string, stream: string) =>
  JSON.stringify({
    event_id: id,
    ts: '2025-12-20T18:34:38.300308+00:00',
    event_type: 'chat_message',
    stream_id: stream,
    user_id: 'user_1',
    message_len: 12,
  });

test('produceFile sends every non-blank line unchanged, invalid ones included, keyed by stream_id', async () => {
  const oversize = JSON.stringify({ stream_id: 'stream_1009', pad: 'x'.repeat(17 * 1024) });
  const lines = [
    event('e1', 'stream_1001'),
    '',
    '{"event_id":"e2","stream_id":"stream_1002"', // cut short
    '   ',
    JSON.stringify({ event_id: 'e3', stream_id: 'stream_1003', event_type: 'viewer_jump' }),
    oversize,
    '[1,2]',
    `${event('e4', 'stream_1004')}\r`, // a CRLF line
    '(invalid UTF-8: written as bytes below)',
    event('e5', 'stream_1005'), // no newline at the end
  ];
  const raw = Buffer.concat([
    Buffer.from(lines.slice(0, 8).join('\n')),
    Buffer.from('\n'),
    Buffer.from([0x63, 0x61, 0x66, 0xe9, 0x0a]), // invalid UTF-8 sent as is
    Buffer.from(lines[9]!),
  ]);
  const file = path.join(dir, 'mixed.ndjson');
  await writeFile(file, raw);
  const output = recordingOutput();
  const progress: FileProgress[] = [];
  const result = await produceFile({ path: file, output, batchSize: 3, onProgress: (p) => progress.push(p) });

  assert.deepEqual(result, {
    lines: 10,
    sent: 8,
    skippedBlank: 2,
    valid: 3,
    invalid: 5,
    truncated: 0,
    aborted: false,
  });
  const values = output.messages.map((m) => Buffer.from(m.value).toString('latin1'));
  assert.deepEqual(values, [
    lines[0],
    lines[2],
    lines[4],
    oversize,
    '[1,2]',
    event('e4', 'stream_1004'),
    'caf\xe9',
    lines[9],
  ]);
  assert.ok(Buffer.from(output.messages[6]!.value).equals(Buffer.from([0x63, 0x61, 0x66, 0xe9])));
  assert.deepEqual(
    output.messages.map((m) => m.key),
    ['stream_1001', '', 'stream_1003', '', '', 'stream_1004', '', 'stream_1005'],
  );
  assert.deepEqual(
    output.messages.map((m) => parseStreamEvent(m.value).ok),
    [true, false, false, false, false, true, false, true],
  );
  assert.ok(output.batches >= 3, 'sent in batches of at most 3 lines');
  assert.deepEqual(progress.at(-1), { lines: 10, bytes: raw.length, totalBytes: raw.length });
});

test('produceFile skips a UTF-8 byte order mark and cuts an endless line to maxLineBytes', async () => {
  const file = path.join(dir, 'long.ndjson');
  const long = 'y'.repeat(100_000);
  await writeFile(file, `\ufeff${event('b1', 'stream_1001')}\n${long}\n${event('b2', 'stream_1002')}\n`);
  const output = recordingOutput();
  const result = await produceFile({ path: file, output, maxLineBytes: 20_000 });
  assert.equal(result.sent, 3);
  assert.equal(result.truncated, 1);
  assert.equal(output.messages[0]!.value.toString(), event('b1', 'stream_1001'));
  assert.equal(output.messages[1]!.value.length, 20_000);
  assert.equal(output.messages[2]!.value.toString(), event('b2', 'stream_1002'));
});

test('produceFile retries a batch the output could not take, then goes on in order', async () => {
  const file = path.join(dir, 'retry.ndjson');
  const all = Array.from({ length: 25 }, (_, i) => event(`r${i}`, `stream_${1001 + (i % 4)}`));
  await writeFile(file, `${all.join('\n')}\n`);
  const inner = recordingOutput();
  let calls = 0;
  const flaky: EventOutput = {
    async send(messages) {
      if (++calls === 2) throw new BusUnavailableError('log busy');
      await inner.send(messages);
    },
    close: () => inner.close(),
  };
  const result = await produceFile({
    path: file,
    output: flaky,
    batchSize: 10,
    retry: { initialBackoffMs: 1 },
  });
  assert.equal(result.sent, 25);
  assert.deepEqual(
    inner.messages.map((m) => m.value.toString()),
    all,
  );
});

test('produceFile stops on abort', async () => {
  const file = path.join(dir, 'abort.ndjson');
  await writeFile(
    file,
    `${Array.from({ length: 100 }, (_, i) => event(`a${i}`, 'stream_1001')).join('\n')}\n`,
  );
  const controller = new AbortController();
  const output: EventOutput = {
    async send() {
      controller.abort();
    },
    async close() {},
  };
  const result = await produceFile({ path: file, output, batchSize: 10, signal: controller.signal });
  assert.equal(result.aborted, true);
  assert.equal(result.sent, 10);
});

test('produceFile names a missing file', async () => {
  await assert.rejects(
    produceFile({ path: path.join(dir, 'nope.ndjson'), output: recordingOutput() }),
    (error: unknown) => error instanceof ConfigError && error.message.includes('nope.ndjson'),
  );
});

test('produceFile to an API counts each line by the contract POST /events routes it to', async () => {
  const pageView = JSON.stringify({
    event_id: 'c1',
    user_id: 'user_9',
    timestamp: '2025-12-20T18:34:38Z',
    event_type: 'page_view',
    schema_version: 'v1',
    idempotency_key: 'k1',
    device_type: 'mobile',
    ip_address: '10.0.0.1',
    payload: { page_url: '/home', session_id: 's1' },
  });
  const badCommerce = JSON.stringify({ ...JSON.parse(pageView), idempotency_key: '' });
  const lines = [event('e1', 'stream_1'), pageView, badCommerce, '{"event_type":"chat_message"}', 'not json'];
  const file = path.join(dir, 'mixed.ndjson');
  await writeFile(file, `${lines.join('\n')}\n`);
  const counts = async (domain: 'live' | 'commerce' | 'routed') => {
    const output = recordingOutput();
    const result = await produceFile({ path: file, output, domain });
    assert.equal(output.messages.length, 5, 'every line is sent');
    return { valid: result.valid, invalid: result.invalid, keys: output.messages.map((m) => m.key) };
  };
  // Judged as the API will: the live event and the commerce event pass, the other three do not.
  assert.deepEqual(await counts('routed'), {
    valid: 2,
    invalid: 3,
    keys: ['stream_1', 'user_9', 'user_9', '', ''],
  });
  // One topic's contract for all (the log output): the other kind is invalid there.
  assert.equal((await counts('live')).valid, 1);
  assert.equal((await counts('commerce')).valid, 1);
});

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SETTINGS } from '../../src/config/schema.ts';
import { BusUnavailableError, ConfigError, RtsaError } from '../../src/errors.ts';
import {
  createEventGenerator,
  type EventOutput,
  type GeneratorProgress,
  type OutputMessage,
  parseWeights,
  runGenerator,
} from '../../src/generator/index.ts';

const weights = parseWeights(SETTINGS.weights.default);
const fixedClock = () => Date.parse('2025-12-20T18:34:38.300Z');
const generator = (badRate = 0, seed = 5) =>
  createEventGenerator({ streams: 20, users: 1000, weights, seed, badRate, now: fixedClock });
const FAST_RETRY = { initialBackoffMs: 1, maxBackoffMs: 4 };

/** An output that keeps what it is sent, in order. */
function recordingOutput(): EventOutput & { messages: OutputMessage[]; batches: number; closed: boolean } {
  const out = {
    messages: [] as OutputMessage[],
    batches: 0,
    closed: false,
    async send(messages: readonly OutputMessage[]) {
      out.batches++;
      out.messages.push(...messages);
    },
    async close() {
      out.closed = true;
    },
  };
  return out;
}

test('runGenerator stops at count and sends the generator sequence in order', async () => {
  const output = recordingOutput();
  const stats = await runGenerator({ generator: generator(0.1), rate: 20_000, count: 4_321, output });
  assert.equal(stats.stoppedBy, 'count');
  assert.equal(stats.sent, 4_321);
  assert.equal(stats.valid + stats.invalid, 4_321);
  assert.ok(stats.invalid > 0);
  const expected = generator(0.1)
    .take(4_321)
    .map((e) => ({ key: e.key, value: e.value }));
  assert.deepEqual(
    output.messages.map((m) => ({ key: m.key, value: m.value })),
    expected,
  );
  // At most 2,000 events (two ticks' worth at 20,000/s) go in one batch, whatever the timing.
  assert.ok(output.batches > 1, 'sent in several batches');
});

test('runGenerator paces the rate by elapsed time', async () => {
  const output = recordingOutput();
  const started = performance.now();
  const stats = await runGenerator({ generator: generator(), rate: 1_000, count: 300, output, batchMs: 20 });
  const elapsed = performance.now() - started;
  // The 300th event is due at 300 ms: it cannot go out earlier. The upper bound only catches a hang.
  assert.ok(elapsed >= 250, `took ${elapsed} ms`);
  assert.ok(elapsed < 10_000, `took ${elapsed} ms`);
  assert.equal(stats.sent, 300);
});

test('runGenerator stops at the duration with rate x duration events', async () => {
  const output = recordingOutput();
  const progress: GeneratorProgress[] = [];
  const stats = await runGenerator({
    generator: generator(),
    rate: 2_000,
    durationMs: 400,
    output,
    progressIntervalMs: 50,
    onProgress: (p) => progress.push(p),
  });
  assert.equal(stats.stoppedBy, 'duration');
  assert.ok(stats.sent <= 800, `sent ${stats.sent}`);
  assert.ok(stats.sent >= 700, `sent ${stats.sent} (only a stall > 1 s loses events)`);
  assert.equal(output.messages.length, stats.sent);
  assert.ok(progress.length > 0);
  assert.ok(progress.every((p, i) => i === 0 || p.sent >= progress[i - 1]!.sent));
});

test('runGenerator stops on abort', async () => {
  const output = recordingOutput();
  const controller = new AbortController();
  const stats = await runGenerator({
    generator: generator(),
    rate: 1_000,
    output,
    signal: controller.signal,
    progressIntervalMs: 0,
    onProgress: (p) => {
      if (p.sent >= 100) controller.abort();
    },
  });
  assert.equal(stats.stoppedBy, 'abort');
  assert.ok(stats.sent >= 100);
  assert.equal(output.messages.length, stats.sent);
});

test('runGenerator retries a retriable output error with the same batch: nothing lost, nothing reordered', async () => {
  const inner = recordingOutput();
  let calls = 0;
  const attempts: string[][] = [];
  const flaky: EventOutput = {
    async send(messages) {
      calls++;
      attempts.push(messages.map((m) => String(m.value)));
      if (calls === 2 || calls === 3 || calls === 4) throw new BusUnavailableError('broker restarting');
      await inner.send(messages);
    },
    close: () => inner.close(),
  };
  const stats = await runGenerator({
    generator: generator(0.05),
    rate: 20_000,
    count: 2_000,
    output: flaky,
    retry: FAST_RETRY,
  });
  assert.equal(stats.sent, 2_000);
  assert.equal(stats.retries, 3);
  assert.deepEqual(attempts[1], attempts[2], 'the failed batch is sent again as it was');
  assert.deepEqual(attempts[1], attempts[4]);
  const expected = generator(0.05)
    .take(2_000)
    .map((e) => e.value);
  assert.deepEqual(
    inner.messages.map((m) => m.value),
    expected,
  );
});

test('runGenerator gives up on a non-retriable output error', async () => {
  const broken: EventOutput = {
    async send() {
      throw new RtsaError('EVENT_INVALID', 'schema mismatch');
    },
    async close() {},
  };
  await assert.rejects(
    runGenerator({ generator: generator(), rate: 1_000, count: 10, output: broken }),
    /schema mismatch/,
  );
});

test('runGenerator counts a batch of only invalid events rejected by the receiver as sent', async () => {
  const rejecting: EventOutput = {
    async send() {
      throw new RtsaError('EVENT_INVALID', 'every line rejected');
    },
    async close() {},
  };
  const stats = await runGenerator({ generator: generator(1), rate: 10_000, count: 50, output: rejecting });
  assert.equal(stats.sent, 50);
  assert.equal(stats.invalid, 50);
});

test('runGenerator refuses a bad rate, naming the setting', async () => {
  await assert.rejects(
    runGenerator({ generator: generator(), rate: 0, output: recordingOutput() }),
    (error: unknown) => error instanceof ConfigError && error.message.includes('RTSA_GEN_RATE'),
  );
});

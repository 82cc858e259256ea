/**
 * A broker restart mid-run: the test starts its own broker (scripts/kafka-local.ts on a free port,
 * jars from the cache the main broker filled), restarts it on the same data while a sink and a
 * source are busy, and checks that nothing is lost or doubled and that the outage is logged once.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createConnection, createServer } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { KafkaBus } from '../../src/bus/kafka/index.ts';
import type { Sink } from '../../src/bus/types.ts';
import { capturingLogger, Recorder, TEST_GROUP_TIMING, waitFor } from './kafka-fixture.ts';

const SCRIPT = fileURLToPath(new URL('../../scripts/kafka-local.ts', import.meta.url));

function kafkaLocal(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [SCRIPT, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
    });
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? 1, stdout, stderr }));
  });
}

function listenOn(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/** A port whose next one is free too (the broker's controller listens there). */
async function freePortPair(): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const port = 20_000 + Math.floor(Math.random() * 20_000);
    if ((await listenOn(port)) && (await listenOn(port + 1))) return port;
  }
  throw new Error('no two consecutive free ports found');
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

describe('KafkaBus across a broker restart', () => {
  let port = 0;
  let bus: KafkaBus | undefined;

  before(async () => {
    port = await freePortPair();
    const started = await kafkaLocal('start', '--port', String(port));
    assert.equal(started.code, 0, `kafka-local start failed:\n${started.stderr}`);
  });

  after(async () => {
    await bus?.close();
    const stopped = await kafkaLocal('stop', '--port', String(port));
    assert.equal(stopped.code, 0, stopped.stderr);
  });

  test('a sink and a source ride out a restart: nothing lost, nothing doubled, logged once', async () => {
    const { logger, lines } = capturingLogger();
    bus = new KafkaBus({ brokers: [`127.0.0.1:${port}`], logger, ...TEST_GROUP_TIMING });
    const topic = 'restart';
    await bus.ensureTopic(topic, 3);

    // Like the processor: after a rebalance it resumes after the last record it processed.
    const next = new Map<number, number>();
    const recorder: Recorder = new Recorder({ startAt: (p) => next.get(p) ?? 0 });
    const inner = recorder.records.bind(recorder);
    recorder.records = async (batch) => {
      await inner(batch);
      for (const r of batch) next.set(r.partition, r.offset + 1);
    };
    const source = bus.source({ topic, group: 'restart-group', idleIntervalMs: 50 });
    await source.start(recorder);

    const sink: Sink = bus.sink();
    const send = (from: number, count: number) =>
      sink.send(
        topic,
        Array.from({ length: count }, (_, i) => ({ key: `k${(from + i) % 10}`, value: String(from + i) })),
      );
    await send(0, 100);
    await waitFor('the first 100 records', () => recorder.received.length === 100);

    const restart = kafkaLocal('restart', '--port', String(port));
    await waitFor('the broker to go down', async () => !(await accepts(port)), 30_000);
    const duringOutage = send(100, 100); // retried until the broker is back
    const restarted = await restart;
    assert.equal(restarted.code, 0, `kafka-local restart failed:\n${restarted.stderr}`);
    await duringOutage;
    await send(200, 100);
    await waitFor('all 300 records', () => recorder.received.length >= 300, 60_000);

    const values = recorder.received.map((r) => Number(r.value.toString()));
    assert.deepEqual(
      [...values].sort((a, b) => a - b),
      Array.from({ length: 300 }, (_, i) => i),
      'each record exactly once',
    );
    const lastPerKey = new Map<string, number>();
    for (const r of recorder.received) {
      const v = Number(r.value.toString());
      assert.ok((lastPerKey.get(r.key!) ?? -1) < v, `key ${r.key} in order`);
      lastPerKey.set(r.key!, v);
    }
    assert.equal(recorder.maxInFlight, 1);

    const messages = lines().map((l) => String(l.msg));
    const producerDown = messages.filter((m) => m.startsWith('kafka producer:') && m.includes('unreachable'));
    assert.equal(producerDown.length, 1, messages.join('\n'));
    assert.ok(
      messages.some((m) => m.startsWith('kafka producer: broker reachable again')),
      messages.join('\n'),
    );
    await source.stop();
  });
});

/**
 * rtsa_generator_* on an injected registry, read back: events by validity, retries of a batch the
 * output refused, the target rate while running and 0 once the run ended.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Registry } from 'prom-client';
import { SETTINGS } from '../../src/config/schema.ts';
import { BusUnavailableError } from '../../src/errors.ts';
import {
  createEventGenerator,
  type OutputMessage,
  parseWeights,
  runGenerator,
} from '../../src/generator/index.ts';
import { createGeneratorMetrics } from '../../src/generator/metrics.ts';

const generator = () =>
  createEventGenerator({
    streams: 5,
    users: 50,
    weights: parseWeights(SETTINGS.weights.default),
    seed: 7,
    badRate: 0.2,
  });

async function value(registry: Registry, name: string, labels: Record<string, string> = {}) {
  const metric = await registry.getSingleMetric(name)?.get();
  assert.ok(metric, `${name} is registered`);
  const sample = metric.values.find((v) => Object.entries(labels).every(([k, l]) => v.labels[k] === l));
  return sample?.value;
}

test('both valid series exist at 0 before anything is sent', async () => {
  const registry = new Registry();
  createGeneratorMetrics(registry);
  assert.equal(await value(registry, 'rtsa_generator_events_total', { valid: 'true' }), 0);
  assert.equal(await value(registry, 'rtsa_generator_events_total', { valid: 'false' }), 0);
  assert.equal(await value(registry, 'rtsa_generator_send_retries_total'), 0);
});

test('runGenerator counts delivered events by validity and the retries of refused batches', async () => {
  const registry = new Registry();
  const metrics = createGeneratorMetrics(registry);
  let refusals = 2;
  let rateDuringRun: number | undefined;
  const delivered: OutputMessage[] = [];
  const output = {
    async send(messages: readonly OutputMessage[]) {
      rateDuringRun ??= await value(registry, 'rtsa_generator_target_rate');
      if (refusals > 0) {
        refusals--;
        throw new BusUnavailableError('log unavailable (injected)');
      }
      delivered.push(...messages);
    },
    async close() {},
  };
  const stats = await runGenerator({
    generator: generator(),
    rate: 20_000,
    count: 500,
    output,
    metrics,
    retry: { initialBackoffMs: 1, maxBackoffMs: 2 },
  });
  assert.equal(stats.sent, 500);
  assert.ok(stats.invalid > 0, 'some events are invalid');
  assert.equal(await value(registry, 'rtsa_generator_events_total', { valid: 'true' }), stats.valid);
  assert.equal(await value(registry, 'rtsa_generator_events_total', { valid: 'false' }), stats.invalid);
  assert.equal(await value(registry, 'rtsa_generator_send_retries_total'), 2);
  assert.equal(rateDuringRun, 20_000, 'the target rate while running');
  assert.equal(await value(registry, 'rtsa_generator_target_rate'), 0, 'and 0 once the run ended');
  assert.equal(delivered.length, 500);
});

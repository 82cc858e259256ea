import { Counter, Gauge, type Registry } from 'prom-client';

/**
 * The generator's own Prometheus metrics, registered on an injected registry:
 *   rtsa_generator_events_total{valid="true|false"}  events delivered to the output
 *   rtsa_generator_send_retries_total                 batches re-sent after a retriable output error
 *   rtsa_generator_target_rate                        the configured rate (events per second)
 * Both `valid` series exist from the start (at 0), so a dashboard shows 0 rather than no data.
 */
export function createGeneratorMetrics(registry: Registry) {
  const registers = [registry];
  const events = new Counter({
    name: 'rtsa_generator_events_total',
    help: 'Events delivered to the output (bus or API), by whether they were generated valid',
    labelNames: ['valid'] as const,
    registers,
  });
  events.inc({ valid: 'true' }, 0);
  events.inc({ valid: 'false' }, 0);
  return {
    events,
    sendRetries: new Counter({
      name: 'rtsa_generator_send_retries_total',
      help: 'Sends of a batch retried after a retriable output error (the output was unavailable)',
      registers,
    }),
    targetRate: new Gauge({
      name: 'rtsa_generator_target_rate',
      help: 'Configured generator rate, events per second (0 once the run ended)',
      registers,
    }),
  };
}

export type GeneratorMetrics = ReturnType<typeof createGeneratorMetrics>;

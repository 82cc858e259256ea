import type { Logger } from 'pino';
import type { Config } from '../config/index.ts';
import { type EventOutput, httpOutput, sinkOutput } from '../generator/index.ts';
import { defaultPartitions, openBus, sinkWhenFree } from './bus.ts';

/** Where `generate` and `produce` send events: a running API (RTSA_API_URL), or the log itself. */
export async function openEventOutput(
  config: Config,
  logger: Logger,
  topic: string = config.topic,
): Promise<{ output: EventOutput; close(): Promise<void> }> {
  if (config.apiUrl !== undefined) {
    const output = httpOutput(config.apiUrl, config.ingestToken);
    return { output, close: () => output.close() };
  }
  const bus = await openBus(config, logger);
  await bus.ensureTopic(topic, defaultPartitions(config, bus));
  const output = sinkOutput(await sinkWhenFree(bus), topic);
  return {
    output,
    close: async () => {
      await output.close();
      await bus.close();
    },
  };
}

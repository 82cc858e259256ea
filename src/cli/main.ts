/**
 * `rtsa <command>`: one CLI for every role. Each command reads the one config schema (flags, then
 * environment), refuses unknown flags, and stops cleanly on Ctrl-C / SIGTERM.
 */
import type { Logger } from 'pino';
import { collectDefaultMetrics, Registry } from 'prom-client';
import { type CommandFlag, type Config, helpFor, loadConfig, type Role } from '../config/index.ts';
import { ConfigError, RtsaError } from '../errors.ts';
import type { EventOutput } from '../generator/index.ts';
import { createLogger } from '../telemetry/logger.ts';

interface Command {
  summary: string;
  flags?: Record<string, CommandFlag>;
  run(ctx: {
    config: Config;
    flags: Record<string, string | boolean | undefined>;
    logger: Logger;
    signal: AbortSignal;
  }): Promise<number | undefined>;
}

const COMMANDS: Record<string, Command> = {
  start: {
    summary: 'run everything in one process: database, log, processor, API on :8000 and the generator',
    run: async ({ config, logger, signal }) => {
      const { runStart } = await import('../runtime/start.ts');
      await runStart(config, logger, signal);
      return 0;
    },
  },
  process: {
    summary: 'run a stream processor (one member of the consumer group)',
    run: async ({ config, logger, signal }) => {
      const { openBus } = await import('../runtime/bus.ts');
      const { openDatabase } = await import('../runtime/database.ts');
      const { startProcessorRole } = await import('../runtime/processor-role.ts');
      const db = await openDatabase(config, logger);
      const bus = await openBus(config, logger);
      const registry = withDefaultMetrics(new Registry());
      const metrics = await maybeServeMetrics(config, registry, logger);
      const role = await startProcessorRole({ config, bus, pool: db.pool, registry, logger });
      await untilStopped(signal, role.done);
      await role.stop();
      metrics?.close();
      await bus.close();
      await db.close();
      return 0;
    },
  },
  serve: {
    summary: 'run the HTTP API (stateless; any number of replicas)',
    run: async ({ config, logger, signal }) => {
      const { openBus } = await import('../runtime/bus.ts');
      const { openDatabase } = await import('../runtime/database.ts');
      const { startApiRole } = await import('../runtime/api-role.ts');
      const db = await openDatabase(config, logger);
      const bus = await openBus(config, logger);
      const api = await startApiRole({ config, bus, pool: db.pool, registry: new Registry(), logger });
      await untilStopped(signal);
      await api.stop();
      await bus.close();
      await db.close();
      return 0;
    },
  },
  generate: {
    summary: 'generate live-stream events onto the log (or to a running API with --api-url)',
    run: async ({ config, logger, signal }) => {
      const gen = await import('../generator/index.ts');
      const { output, close } = await openOutput(config, logger);
      const registry = withDefaultMetrics(new Registry());
      const metrics = await maybeServeMetrics(config, registry, logger);
      const { createGeneratorMetrics } = await import('../generator/metrics.ts');
      const generator = (await import('../runtime/generator-config.ts')).generatorFromConfig(config);
      logger.info(
        { rate: config.rate, streams: config.streams, users: config.users, seed: generator.seed },
        'generating',
      );
      const stats = await gen.runGenerator({
        generator,
        rate: config.rate,
        count: config.count,
        durationMs: config.durationMs,
        output,
        signal,
        logger,
        onProgress: (p) => logger.info(p, 'generator progress'),
        progressIntervalMs: 5_000,
        metrics: createGeneratorMetrics(registry),
      });
      logger.info(stats, 'generator finished');
      await close();
      metrics?.close();
      return 0;
    },
  },
  produce: {
    summary: 'replay an NDJSON file of events onto the log (or to a running API with --api-url)',
    flags: { file: { type: 'string', doc: 'NDJSON file, one event per line (required)', short: 'f' } },
    run: async ({ config, flags, logger, signal }) => {
      const file = flags.file;
      if (typeof file !== 'string')
        throw new ConfigError('--file is required: rtsa produce --file events.ndjson');
      const { produceFile } = await import('../generator/index.ts');
      const { output, close } = await openOutput(config, logger);
      const result = await produceFile({
        path: file,
        output,
        signal,
        logger,
        onProgress: (p) => {
          if (process.stderr.isTTY) {
            const pct = p.totalBytes > 0 ? ((100 * p.bytes) / p.totalBytes).toFixed(1) : '100';
            process.stderr.write(`\r${p.lines} lines, ${pct}% `);
          }
        },
      });
      if (process.stderr.isTTY) process.stderr.write('\n');
      logger.info(result, 'file produced');
      await close();
      return 0;
    },
  },
  migrate: {
    summary: 'apply the database migrations (idempotent) and exit',
    run: async ({ config, logger }) => {
      const { openDatabase } = await import('../runtime/database.ts');
      const db = await openDatabase(config, logger, 1);
      logger.info('database is up to date');
      await db.close();
      return 0;
    },
  },
  smoke: {
    summary: 'check a running stack end to end (the seed smoke checks); exit 1 when any check fails',
    flags: {
      'prometheus-url': { type: 'string', doc: 'also check Prometheus there: ready, every target up' },
      wait: { type: 'string', doc: 'how long the smoke donation may take to show up (default 60s)' },
    },
    run: async ({ config, flags, logger, signal }) =>
      (await import('../ops/index.ts')).smokeCommand(config, flags, logger, signal),
  },
  doctor: {
    summary: 'diagnose a running stack: what is down or lagging and what to do; exit 1 when anything is',
    flags: { 'prometheus-url': { type: 'string', doc: 'also check Prometheus there and its targets' } },
    run: async ({ config, flags, logger, signal }) =>
      (await import('../ops/index.ts')).doctorCommand(config, flags, logger, signal),
  },
};

function withDefaultMetrics(registry: Registry): Registry {
  collectDefaultMetrics({ register: registry });
  return registry;
}

async function maybeServeMetrics(config: Config, registry: Registry, logger: Logger) {
  if (config.metricsPort === undefined) return undefined;
  const { serveMetrics } = await import('../runtime/metrics-server.ts');
  return serveMetrics(registry, config.metricsPort, config.host, logger);
}

async function openOutput(
  config: Config,
  logger: Logger,
): Promise<{ output: EventOutput; close(): Promise<void> }> {
  const gen = await import('../generator/index.ts');
  if (config.apiUrl !== undefined) {
    const output = gen.httpOutput(config.apiUrl, config.ingestToken);
    return { output, close: () => output.close() };
  }
  const { openBus, defaultPartitions } = await import('../runtime/bus.ts');
  const bus = await openBus(config, logger);
  await bus.ensureTopic(config.topic, defaultPartitions(config, bus));
  const output = gen.sinkOutput(bus.sink(), config.topic);
  return {
    output,
    close: async () => {
      await output.close();
      await bus.close();
    },
  };
}

/** Resolves on Ctrl-C/SIGTERM; rejects if `done` rejects first. */
function untilStopped(signal: AbortSignal, done?: Promise<void>): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return resolve();
    signal.addEventListener('abort', () => resolve(), { once: true });
    done?.then(resolve, reject);
  });
}

function usage(): string {
  const lines = [
    'Usage: rtsa <command> [options]    (rtsa <command> --help for its options)',
    '',
    'Commands:',
  ];
  for (const [name, c] of Object.entries(COMMANDS)) lines.push(`  ${name.padEnd(10)} ${c.summary}`);
  lines.push('', 'Every option is also an environment variable; see docs/configuration.md.');
  return lines.join('\n');
}

/** A second Ctrl-C later than this after the first forces an immediate exit. */
const FORCE_AFTER_MS = 1_000;

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === 'help' || name === '--help' || name === '-h') {
    console.log(usage());
    return name === undefined ? 2 : 0;
  }
  const command = COMMANDS[name];
  if (command === undefined) {
    console.error(`rtsa: unknown command "${name}"\n\n${usage()}`);
    return 2;
  }
  const role = name as Role;
  if (rest.includes('--help') || rest.includes('-h')) {
    console.log(helpFor(role, command.summary, command.flags));
    return 0;
  }
  let loaded: ReturnType<typeof loadConfig<string>>;
  try {
    loaded = loadConfig(role, rest, process.env, command.flags ?? {});
  } catch (error) {
    console.error(`rtsa ${name}: ${(error as Error).message}`);
    return 2;
  }
  const { config } = loaded;
  const logger = createLogger({ level: config.logLevel, format: config.logFormat });
  const controller = new AbortController();
  let firstSignalAt: number | undefined;
  const onSignal = (sig: string) => {
    if (firstSignalAt === undefined) {
      firstSignalAt = Date.now();
      logger.info({ signal: sig }, 'stopping (press Ctrl-C again to force)');
      controller.abort();
    } else if (Date.now() - firstSignalAt > FORCE_AFTER_MS) {
      process.exit(130);
    }
    // Under `npm start` one Ctrl-C arrives twice (from the terminal and forwarded by npm): a
    // second signal right after the first is the same keypress, not a request to force.
  };
  process.on('SIGINT', () => onSignal('SIGINT'));
  process.on('SIGTERM', () => onSignal('SIGTERM'));
  process.on('SIGHUP', () => onSignal('SIGHUP')); // the terminal closed
  try {
    return (await command.run({ config, flags: loaded.flags, logger, signal: controller.signal })) ?? 0;
  } catch (error) {
    if (error instanceof RtsaError) {
      logger.error({ code: error.code, err: error.cause ?? undefined }, error.message);
    } else {
      logger.error({ err: error }, `rtsa ${name} failed`);
    }
    return 1;
  }
}

const code = await main(process.argv.slice(2));
// Let pino's transport flush before exiting.
setTimeout(() => process.exit(code), 50).unref();
process.exitCode = code;

/**
 * `rtsa <command>`: parses the command line and dispatches. The commands and the settings each
 * reads are in the command registry (src/config/commands.ts); what each runs is in
 * src/runtime (one module per role). Unknown flags are refused; Ctrl-C / SIGTERM stop cleanly.
 */
import {
  COMMANDS,
  type CommandSpec,
  commandFlagsOf,
  helpFor,
  isCommand,
  loadConfig,
} from '../config/index.ts';
import { ConfigError, RtsaError } from '../errors.ts';
import { RUNNERS } from '../runtime/index.ts';
import { createLogger } from '../telemetry/logger.ts';

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
  if (!isCommand(name)) {
    console.error(`rtsa: unknown command "${name}"\n\n${usage()}`);
    return 2;
  }
  if (rest.includes('--help') || rest.includes('-h')) {
    console.log(helpFor(name));
    return 0;
  }
  let loaded: ReturnType<typeof loadConfig<string>>;
  try {
    loaded = loadConfig(name, rest, process.env, commandFlagsOf(name));
  } catch (error) {
    console.error(`rtsa ${name}: ${(error as Error).message}`);
    return 2;
  }
  const { config } = loaded;
  const logger = createLogger({
    level: config.logLevel,
    format: config.logFormat,
    stream: (COMMANDS[name] as CommandSpec).logsToStderr ? 'stderr' : 'stdout',
  });
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
    const run = await RUNNERS[name]();
    return (
      (await run({
        config,
        flags: loaded.flags,
        subcommand: loaded.subcommand,
        given: loaded.given,
        logger,
        signal: controller.signal,
      })) ?? 0
    );
  } catch (error) {
    if (error instanceof ConfigError) {
      // Something the user gave (a flag, a file, a setting): the message says what to fix, and the
      // cause's stack is no help to them. It stays one --log-level debug away.
      if (error.cause !== undefined) logger.debug({ err: error.cause }, 'the cause');
      logger.error({ code: error.code }, error.message);
    } else if (error instanceof RtsaError) {
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

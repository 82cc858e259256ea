/**
 * Operating a running stack: `rtsa smoke` (the end-to-end checks of docs/smoke-tests.md) and `rtsa doctor`
 * (what is down, what lags, what to do). Both read the one config schema and only look.
 */
import type { Config } from '../config/index.ts';
import { parseDurationMs } from '../config/index.ts';
import type { Logger } from '../telemetry/logger.ts';
import { wantsColour } from './check-report.ts';
import { runDoctor } from './doctor.ts';
import { runSmoke } from './smoke.ts';
import type { OpsIo } from './smoke-kit.ts';
import type { BusOpener } from './stack-target.ts';

export { runDoctor } from './doctor.ts';
export { SMOKE_DONATION_USD } from './realtime-checks.ts';
export { runSmoke, SEED_METRIC_NAMES } from './smoke.ts';

const DEFAULT_WAIT_MS = 60_000;

type Flags = Record<string, string | boolean | undefined>;

function stdoutIo(logger: Logger, signal: AbortSignal, openBus: BusOpener): OpsIo {
  return {
    write: (text: string) => process.stdout.write(`${text}\n`),
    colour: wantsColour(process.stdout),
    signal,
    logger,
    openBus,
  };
}

function prometheusUrlOf(flags: Flags): string | undefined {
  const url = flags['prometheus-url'];
  return typeof url === 'string' && url !== '' ? url : undefined;
}

/** `rtsa smoke [--prometheus-url URL] [--wait 60s]`. */
export function smokeCommand(
  config: Config,
  flags: Flags,
  logger: Logger,
  signal: AbortSignal,
  openBus: BusOpener,
): Promise<number> {
  let waitMs = DEFAULT_WAIT_MS;
  if (typeof flags.wait === 'string') {
    const ms = parseDurationMs(flags.wait);
    if (ms === undefined || ms <= 0) {
      // A usage error, like an unknown flag: exit code 2.
      console.error(`rtsa smoke: --wait is "${flags.wait}": expected a duration such as 30s or 2m`);
      return Promise.resolve(2);
    }
    waitMs = ms;
  }
  return runSmoke(
    config,
    { waitMs, prometheusUrl: prometheusUrlOf(flags) },
    stdoutIo(logger, signal, openBus),
  );
}

/** `rtsa doctor [--prometheus-url URL]`. */
export function doctorCommand(
  config: Config,
  flags: Flags,
  logger: Logger,
  signal: AbortSignal,
  openBus: BusOpener,
): Promise<number> {
  return runDoctor(config, { prometheusUrl: prometheusUrlOf(flags) }, stdoutIo(logger, signal, openBus));
}

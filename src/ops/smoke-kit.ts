/**
 * What every `rtsa smoke` check shares: the I/O it prints to, the list of checks with their
 * results, and the context the checks fill in for the ones after them.
 */
import type { Health } from '../realtime/api/schemas.ts';
import type { Config } from '../config/index.ts';
import { errorMessage } from '../errors.ts';
import type { Logger } from '../telemetry/logger.ts';
import { CheckFailed, type Line, type Printer } from './check-report.ts';
import type { Hints } from './hints.ts';
import type { BusProbe, DatabaseProbe, BusOpener, StackTarget } from './stack-target.ts';

export interface OpsIo {
  write(text: string): void;
  colour: boolean;
  signal: AbortSignal;
  logger: Logger;
  /** Opens the stack's bus from its settings (given by the runtime, which composes the roles). */
  openBus: BusOpener;
}

export interface SmokeOptions {
  /** How long to wait for the smoke donation (and for offsets, targets) before failing. */
  waitMs: number;
  prometheusUrl?: string | undefined;
}

export class CheckList {
  readonly lines: Line[] = [];
  private readonly printer: Printer;

  constructor(printer: Printer) {
    this.printer = printer;
  }

  /** Runs one check: `fn` returns what it saw, or throws (CheckFailed carries the hint). */
  async run(name: string, fn: () => Promise<string>, fallbackHint = ''): Promise<boolean> {
    const started = performance.now();
    let line: Line;
    try {
      line = { status: 'pass', name, detail: await fn(), ms: performance.now() - started };
    } catch (error) {
      const hint = error instanceof CheckFailed ? error.hint : fallbackHint;
      line = { status: 'fail', name, detail: errorMessage(error), hint, ms: performance.now() - started };
    }
    this.add(line);
    return line.status === 'pass';
  }

  skip(name: string, why: string): void {
    this.add({ status: 'skip', name, detail: `skipped: ${why}` });
  }

  private add(line: Line): void {
    this.lines.push(line);
    this.printer.line(line);
  }
}

/** What the checks learn, for the ones after them. */
export interface Smoke {
  config: Config;
  options: SmokeOptions;
  io: OpsIo;
  target: StackTarget;
  hints: Hints;
  checks: CheckList;
  api: string;
  /** Why the API checks cannot run, when they cannot. */
  apiBlocked?: string;
  /** Why nothing can be appended to the log, when the bus did not answer. */
  busBlocked?: string;
  /** Why no DAG run can execute (no scheduler or no worker alive), when none can. */
  dagBlocked?: string;
  health?: Health;
  bus?: BusProbe;
  db?: DatabaseProbe;
  partitions: number;
  before?: Map<number, number>;
  beforeError?: unknown;
  injected: boolean;
  donationSeen: boolean;
}

export function unavailable(target: StackTarget): { why: string; hint: string } {
  return target.database.kind === 'unavailable'
    ? target.database
    : { why: 'the database is unavailable', hint: 'check DATABASE_URL' };
}

/** Bus client logs (retries, "using Kafka") only at debug level: the report is the output. */
export function busLogger(config: Config, logger: Logger): Logger | undefined {
  return config.logLevel === 'debug' || config.logLevel === 'trace' ? logger : undefined;
}

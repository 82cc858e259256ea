import { pino, type Logger } from 'pino';

export type { Logger };

export interface LoggerOptions {
  level: string;
  format: 'json' | 'pretty' | undefined;
  name?: string;
  /** Where lines go (default stdout). */
  stream?: 'stdout' | 'stderr';
}

/**
 * Structured JSON logs (one object a line, for machines), or a readable colored form for a
 * terminal. Secrets never reach the logger: config is logged through `redactedConfig`, and the
 * redact paths below cover request headers.
 */
export function createLogger(options: LoggerOptions): Logger {
  const out = options.stream === 'stderr' ? process.stderr : process.stdout;
  const fd = options.stream === 'stderr' ? 2 : 1;
  const pretty = options.format === 'pretty' || (options.format === undefined && out.isTTY === true);
  const options_ = {
    name: options.name ?? 'rtsa',
    level: options.level,
    redact: { paths: ['req.headers.authorization', 'headers.authorization', '*.password'], censor: '***' },
    ...(pretty
      ? {
          transport: {
            target: 'pino-pretty',
            options: {
              destination: fd,
              colorize: true,
              singleLine: true,
              translateTime: 'HH:MM:ss.l',
              ignore: 'pid,hostname,name',
            },
          },
        }
      : {}),
  };
  return pretty || fd === 1 ? pino(options_) : pino(options_, pino.destination(fd));
}

/** A logger that drops everything, for tests and library use. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}

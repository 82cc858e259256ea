import { pino, type Logger } from 'pino';

export type { Logger };

export interface LoggerOptions {
  level: string;
  format: 'json' | 'pretty' | undefined;
  name?: string;
}

/**
 * Structured JSON logs (one object a line, for machines), or a readable colored form for a
 * terminal. Secrets never reach the logger: config is logged through `redactedConfig`, and the
 * redact paths below cover request headers.
 */
export function createLogger(options: LoggerOptions): Logger {
  const pretty =
    options.format === 'pretty' || (options.format === undefined && process.stdout.isTTY === true);
  return pino({
    name: options.name ?? 'rtsa',
    level: options.level,
    redact: { paths: ['req.headers.authorization', 'headers.authorization', '*.password'], censor: '***' },
    ...(pretty
      ? {
          transport: {
            target: 'pino-pretty',
            options: {
              colorize: true,
              singleLine: true,
              translateTime: 'HH:MM:ss.l',
              ignore: 'pid,hostname,name',
            },
          },
        }
      : {}),
  });
}

/** A logger that drops everything, for tests and library use. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}

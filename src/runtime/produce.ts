/** `rtsa produce --file F`: replays an NDJSON file onto the log (or to a running API). */
import { ConfigError } from '../errors.ts';
import { produceFile } from '../generator/index.ts';
import { openEventOutput } from './event-output.ts';
import type { RoleRunner } from './role.ts';

export const run: RoleRunner = async ({ config, flags, logger, signal }) => {
  const file = flags.file;
  if (typeof file !== 'string')
    throw new ConfigError('--file is required: rtsa produce --file events.ndjson');
  const { output, close } = await openEventOutput(config, logger);
  // The commerce topic holds commerce events: keyed by user_id, judged by their own contract. A
  // running API takes both kinds and routes each event by its shape, whatever --topic says.
  const domain =
    config.apiUrl !== undefined ? 'routed' : config.topic === config.commerceTopic ? 'commerce' : 'live';
  const result = await produceFile({
    domain,
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
  const to = config.apiUrl !== undefined ? { api: config.apiUrl } : { topic: config.topic };
  logger.info({ ...result, ...to, domain }, 'file produced');
  await close();
  return 0;
};

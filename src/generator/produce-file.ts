import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { ConfigError, errorMessage } from '../errors.ts';
import { isCommerceShaped } from '../events/route.ts';
import { MAX_EVENT_BYTES, validateStreamEvent } from '../events/stream-event.ts';
import { type Logger, silentLogger } from '../telemetry/logger.ts';
import { keyOf } from './bad-events.ts';
import { inspectCommerceLine } from './commerce/inspect-line.ts';
import type { EventOutput, OutputMessage } from './event-output.ts';
import { sendWithRetry } from './send-with-retry.ts';

export interface FileProgress {
  /** Lines handled so far (sent or skipped as blank). */
  lines: number;
  /** Bytes of the file handled so far. */
  bytes: number;
  totalBytes: number;
}

export interface ProduceFileOptions {
  path: string;
  output: EventOutput;
  /** Most lines per send. Default 1000. */
  batchSize?: number;
  /** Most bytes per send. Default 1 MiB. */
  maxBatchBytes?: number;
  /**
   * A line longer than this is sent cut to this length (it is invalid either way, being over the
   * 16 KiB event limit) so that memory stays bounded on a file without newlines. Default 1 MiB.
   */
  maxLineBytes?: number;
  /** Called at most every 100 ms, and once at the end. */
  onProgress?: (progress: FileProgress) => void;
  signal?: AbortSignal;
  logger?: Logger;
  retry?: { initialBackoffMs?: number; maxBackoffMs?: number };
  /**
   * What the file holds: live-stream events (keyed by stream_id, the default), commerce events
   * (keyed by user_id, judged by the commerce contract), or either, each judged as POST /events
   * routes it (`routed`, for an API output).
   */
  domain?: ProduceDomain;
}

export type ProduceDomain = 'live' | 'commerce' | 'routed';

export interface ProduceFileResult {
  /** Lines handled: sent plus skipped blank lines. */
  lines: number;
  /** Lines sent to the output, valid or not. */
  sent: number;
  skippedBlank: number;
  /** Of the sent lines, those that pass parseStreamEvent and those the processor will dead-letter. */
  valid: number;
  invalid: number;
  /** Lines longer than maxLineBytes, sent cut short. */
  truncated: number;
  /** The signal stopped the run before the end of the file. */
  aborted: boolean;
}

const PROGRESS_INTERVAL_MS = 100;
const LF = 0x0a;
const CR = 0x0d;

/**
 * Streams an NDJSON file to `output`, line by line, in batches: each line is sent as its raw
 * bytes (without its line ending), keyed by its `stream_id` when it decodes to an object with a
 * usable one, else by ''. Invalid lines are sent too, so that the processor dead-letters them with
 * their raw bytes: nothing is dropped silently. Blank lines are skipped and counted. Batches are
 * sent in order, each awaited and retried as is on a retriable error.
 */
export async function produceFile(options: ProduceFileOptions): Promise<ProduceFileResult> {
  const { path, output, signal, onProgress } = options;
  const logger = options.logger ?? silentLogger();
  const batchSize = options.batchSize ?? 1_000;
  const maxBatchBytes = options.maxBatchBytes ?? 1024 * 1024;
  const maxLineBytes = Math.max(options.maxLineBytes ?? 1024 * 1024, MAX_EVENT_BYTES + 1);

  let totalBytes: number;
  try {
    const info = await stat(path);
    if (!info.isFile()) throw new Error('not a regular file');
    totalBytes = info.size;
  } catch (error) {
    throw new ConfigError(`cannot read the events file ${path}: ${errorMessage(error)}`, { cause: error });
  }

  const result: ProduceFileResult = {
    lines: 0,
    sent: 0,
    skippedBlank: 0,
    valid: 0,
    invalid: 0,
    truncated: 0,
    aborted: false,
  };
  let doneBytes = 0;
  let lastProgress = 0;
  let batch: OutputMessage[] = [];
  let batchBytes = 0;
  let batchValid = 0;
  /** File bytes of the lines in `batch` and of the blank lines read since the last send. */
  let pendingFileBytes = 0;

  const report = (force: boolean) => {
    if (!onProgress) return;
    const now = performance.now();
    if (!force && now - lastProgress < PROGRESS_INTERVAL_MS) return;
    lastProgress = now;
    onProgress({ lines: result.lines, bytes: doneBytes, totalBytes });
  };

  const flush = async (): Promise<boolean> => {
    if (batch.length > 0) {
      const outcome = await sendWithRetry(output, batch, {
        logger,
        signal,
        allInvalid: batchValid === 0,
        ...options.retry,
      });
      if (!outcome.delivered) return false;
      result.sent += batch.length;
      result.valid += batchValid;
      result.invalid += batch.length - batchValid;
      result.lines += batch.length;
    }
    doneBytes += pendingFileBytes;
    pendingFileBytes = 0;
    batch = [];
    batchBytes = 0;
    batchValid = 0;
    report(false);
    return true;
  };

  const addLine = async (raw: Buffer, fileBytes: number, cut: boolean): Promise<boolean> => {
    pendingFileBytes += fileBytes;
    let line = raw;
    if (!cut && line.length > 0 && line[line.length - 1] === CR) line = line.subarray(0, line.length - 1);
    if (isBlank(line)) {
      result.skippedBlank++;
      result.lines++;
      return true;
    }
    if (cut) result.truncated++;
    const { key, valid } = inspect(line, options.domain ?? 'live');
    batch.push({ key, value: line });
    batchBytes += line.length;
    if (valid) batchValid++;
    if (batch.length >= batchSize || batchBytes >= maxBatchBytes) return flush();
    return true;
  };

  const stream = createReadStream(path, { highWaterMark: 256 * 1024 });
  let parts: Buffer[] = [];
  let partBytes = 0;
  /** Bytes of the current line as in the file, including any cut off. */
  let lineFileBytes = 0;
  let cut = false;
  let first = true;
  try {
    reading: for await (const data of stream as AsyncIterable<Buffer>) {
      let chunk = data;
      if (first) {
        first = false;
        // A UTF-8 byte order mark belongs to the file, not to its first event.
        if (chunk[0] === 0xef && chunk[1] === 0xbb && chunk[2] === 0xbf) {
          chunk = chunk.subarray(3);
          doneBytes += 3;
        }
      }
      let start = 0;
      while (start < chunk.length) {
        const newline = chunk.indexOf(LF, start);
        const end = newline < 0 ? chunk.length : newline;
        const piece = chunk.subarray(start, end);
        lineFileBytes += piece.length;
        const room = maxLineBytes - partBytes;
        if (piece.length > room) {
          cut = true;
          if (room > 0) {
            parts.push(piece.subarray(0, room));
            partBytes += room;
          }
        } else if (piece.length > 0) {
          parts.push(piece);
          partBytes += piece.length;
        }
        if (newline < 0) break;
        const line = parts.length === 1 ? Buffer.from(parts[0]!) : Buffer.concat(parts, partBytes);
        const ok = await addLine(line, lineFileBytes + 1, cut);
        parts = [];
        partBytes = 0;
        lineFileBytes = 0;
        cut = false;
        start = newline + 1;
        if (!ok || signal?.aborted) {
          result.aborted = true;
          break reading;
        }
      }
    }
    if (!result.aborted && lineFileBytes > 0) {
      // The last line has no newline.
      const line = Buffer.concat(parts, partBytes);
      if (!(await addLine(line, lineFileBytes, cut))) result.aborted = true;
    }
    if (!result.aborted && !(await flush())) result.aborted = true;
  } finally {
    stream.destroy();
  }
  if (result.aborted) logger.info({ path, lines: result.lines }, 'producing the file was stopped');
  report(true);
  return result;
}

/** The partition key and validity of a line, as the contract of its domain would judge it. */
function inspect(line: Buffer, domain: ProduceDomain): { key: string; valid: boolean } {
  if (domain === 'commerce') return inspectCommerceLine(line);
  if (domain === 'live' && line.length > MAX_EVENT_BYTES) return { key: '', valid: false };
  let value: unknown;
  try {
    value = JSON.parse(line.toString('utf8'));
  } catch {
    return { key: '', valid: false };
  }
  // Over HTTP the API routes each event by its shape; count it by the contract it will meet.
  if (domain === 'routed' && isCommerceShaped(value)) return inspectCommerceLine(line);
  if (line.length > MAX_EVENT_BYTES) return { key: '', valid: false };
  return { key: keyOf(value), valid: validateStreamEvent(value).ok };
}

function isBlank(line: Buffer): boolean {
  for (const byte of line) {
    if (byte !== 0x20 && byte !== 0x09 && byte !== CR && byte !== LF) return false;
  }
  return true;
}

import { BusUnavailableError, ConfigError, RtsaError } from '../errors.ts';
import type { EventOutput, OutputMessage } from './event-output.ts';
import { settingName } from './event-weights.ts';

export interface HttpOutputOptions {
  /** Most bytes per request; a larger batch is sent as several requests, in order. Default 512 KiB. */
  maxBodyBytes?: number;
  /** A request taking longer than this fails (retriably). Default 30 s. */
  timeoutMs?: number;
}

const NEWLINE = Buffer.from('\n');

/**
 * Posts events as NDJSON to `<apiUrl>/events` of a running rtsa API. A 2xx (the API answers 202
 * once the valid lines are durable) is success, including when some lines were reported invalid:
 * those are the API's to dead-letter; so is a 400 that lists every line as refused. A network
 * error, a timeout, 408, 429 and 5xx throw a retriable BusUnavailableError; 401/403/404 a
 * ConfigError; another 4xx a non-retriable RtsaError EVENT_INVALID carrying the server's message.
 */
export function httpOutput(apiUrl: string, token?: string, options: HttpOutputOptions = {}): EventOutput {
  const url = eventsUrl(apiUrl);
  const maxBodyBytes = options.maxBodyBytes ?? 512 * 1024;
  const timeoutMs = options.timeoutMs ?? 30_000;
  const headers: Record<string, string> = { 'content-type': 'application/x-ndjson' };
  if (token !== undefined && token !== '') headers.authorization = `Bearer ${token}`;

  const post = async (lines: number, body: Buffer): Promise<void> => {
    let response: Response;
    let text: string;
    try {
      response = await fetch(url, {
        method: 'POST',
        headers,
        body,
        signal: AbortSignal.timeout(timeoutMs),
      });
      text = await response.text();
    } catch (error) {
      throw new BusUnavailableError(`POST ${url} failed: ${describeFetchError(error)}; retrying`, {
        cause: error,
      });
    }
    const status = response.status;
    if (status >= 200 && status < 300) return;
    // Every line of the request refused, each with its reason: the API read them and dead-lettered
    // them, which is delivery (a file's next lines must still go; a 2 MB line alone got here).
    if (status === 400 && isIngestAnswer(text)) return;
    const detail = serverMessage(text) ?? response.statusText;
    if (status >= 500 || status === 408 || status === 429) {
      throw new BusUnavailableError(`POST ${url} answered ${status}: ${detail}`);
    }
    if (status === 401 || status === 403) {
      throw new ConfigError(
        `POST ${url} answered ${status} (${detail}): set ${settingName('ingestToken')} to the API's ingest token`,
      );
    }
    if (status === 404 || status === 405) {
      throw new ConfigError(
        `POST ${url} answered ${status}: ${settingName('apiUrl')} must be the base URL of an rtsa API, e.g. http://localhost:8000`,
      );
    }
    throw new RtsaError('EVENT_INVALID', `POST ${url} rejected ${lines} line(s) with ${status}: ${detail}`);
  };

  return {
    async send(messages: readonly OutputMessage[]) {
      let parts: Buffer[] = [];
      let bytes = 0;
      for (const message of messages) {
        const value = typeof message.value === 'string' ? Buffer.from(message.value) : message.value;
        if (parts.length > 0 && bytes + value.length + 1 > maxBodyBytes) {
          await post(parts.length / 2, Buffer.concat(parts, bytes));
          parts = [];
          bytes = 0;
        }
        parts.push(value, NEWLINE);
        bytes += value.length + 1;
      }
      if (parts.length > 0) await post(parts.length / 2, Buffer.concat(parts, bytes));
    },
    async close() {},
  };
}

function eventsUrl(apiUrl: string): string {
  let base: URL;
  try {
    base = new URL(apiUrl);
  } catch {
    throw new ConfigError(`${settingName('apiUrl')} is "${apiUrl}": set a URL such as http://localhost:8000`);
  }
  if (base.protocol !== 'http:' && base.protocol !== 'https:') {
    throw new ConfigError(`${settingName('apiUrl')} is "${apiUrl}": use an http:// or https:// URL`);
  }
  if (!base.pathname.endsWith('/')) base.pathname += '/';
  return new URL('events', base).toString();
}

/** The message of an error body: `{message}`, `{error}`, or the first of `{errors:[{line,reason,detail}]}`. */
/** A POST /events answer (accepted, rejected, errors), as opposed to an error about the request. */
function isIngestAnswer(text: string): boolean {
  try {
    const body = JSON.parse(text) as Record<string, unknown> | null;
    return (
      typeof body === 'object' &&
      body !== null &&
      body.accepted === 0 &&
      typeof body.rejected === 'number' &&
      body.rejected > 0 &&
      Array.isArray(body.errors)
    );
  } catch {
    return false;
  }
}

function serverMessage(text: string): string | undefined {
  if (text === '') return undefined;
  try {
    const body = JSON.parse(text) as Record<string, unknown>;
    if (typeof body === 'object' && body !== null) {
      const errors = body.errors;
      if (Array.isArray(errors) && errors.length > 0) {
        const first = errors[0] as Record<string, unknown>;
        const more = errors.length > 1 ? ` (and ${errors.length - 1} more)` : '';
        return `line ${first.line}: ${first.reason}: ${first.detail}${more}`;
      }
      if (typeof body.message === 'string') return body.message;
      if (typeof body.error === 'string') return body.error;
    }
  } catch {
    // not JSON: use the text
  }
  return text.length > 300 ? `${text.slice(0, 297)}...` : text;
}

function describeFetchError(error: unknown): string {
  if (error instanceof Error) {
    if (error.name === 'TimeoutError') return 'timed out';
    const cause = error.cause instanceof Error ? `: ${error.cause.message}` : '';
    return `${error.message}${cause}`;
  }
  return String(error);
}

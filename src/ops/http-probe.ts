/** Small HTTP client for the ops commands: a deadline on every request and errors said plainly. */

export interface HttpAnswer {
  status: number;
  text: string;
  ms: number;
  contentType: string;
}

export interface HttpRequest {
  method?: 'GET' | 'POST';
  headers?: Record<string, string>;
  body?: string;
  timeoutMs?: number;
}

/** Never throws on an HTTP status; throws on no answer (refused, unknown host, timeout). */
export async function request(url: string, req: HttpRequest = {}): Promise<HttpAnswer> {
  const started = performance.now();
  const res = await fetch(url, {
    method: req.method ?? 'GET',
    ...(req.headers ? { headers: req.headers } : {}),
    ...(req.body !== undefined ? { body: req.body } : {}),
    signal: AbortSignal.timeout(req.timeoutMs ?? 5_000),
    redirect: 'manual',
  });
  const text = await res.text();
  return {
    status: res.status,
    text,
    ms: performance.now() - started,
    contentType: res.headers.get('content-type') ?? '',
  };
}

/** Parses a JSON body, or undefined when it is not JSON. */
export function jsonOf(answer: HttpAnswer): unknown {
  try {
    return JSON.parse(answer.text);
  } catch {
    return undefined;
  }
}

/** Why a request got no answer, in words: "connection refused", "timed out after 5 s"… */
export function describeNetworkError(error: unknown): string {
  const e = error as { name?: string; message?: string; cause?: { code?: string; message?: string } };
  if (e?.name === 'TimeoutError' || e?.name === 'AbortError') return 'no answer in time (timed out)';
  const code = e?.cause?.code;
  switch (code) {
    case 'ECONNREFUSED':
      return 'connection refused (nothing listens there)';
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return 'host not found';
    case 'ECONNRESET':
      return 'connection reset';
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
      return 'host unreachable';
    default:
      return e?.cause?.message ?? e?.message ?? String(error);
  }
}

/** The first words of a body, for messages. */
export function snippet(text: string, max = 160): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length > max ? `${flat.slice(0, max)}…` : flat;
}

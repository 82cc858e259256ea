/**
 * docs/api.md, generated from the OpenAPI document the running API serves (`npm run docs`), so the
 * reference and the routes cannot disagree. The fixed part explains what the document cannot: the
 * error shape, the limits on hostile clients (issue 11) and where the event schema lives.
 */
import { MAX_EVENT_BYTES } from '../../events/index.ts';
import { GLOBAL_PER_MINUTE, MAX_KEPT_PER_REQUEST, PER_ADDRESS_PER_MINUTE } from './dead-letter-budget.ts';
import { MAX_BODY_BYTES, MAX_EVENTS_PER_REQUEST } from './ingest-body.ts';
import { CONNECTION_IDLE_TIMEOUT_MS, REQUEST_TIMEOUT_MS } from '../../http/request-guards.ts';

interface Parameter {
  name: string;
  in: string;
  required?: boolean;
  description?: string;
  schema?: {
    type?: string;
    minimum?: number;
    maximum?: number;
    default?: unknown;
    enum?: unknown[];
    maxLength?: number;
    format?: string;
  };
}

interface Operation {
  summary?: string;
  description?: string;
  tags?: string[];
  parameters?: Parameter[];
  responses?: Record<string, { description?: string }>;
}

function cell(text: string): string {
  return text.replaceAll('|', '\\|').replaceAll('\n', ' ');
}

function describeParameter(p: Parameter): string {
  const s = p.schema ?? {};
  const range =
    s.enum !== undefined
      ? `one of ${s.enum.map((v) => `\`${v}\``).join(', ')}`
      : s.type === 'integer'
        ? `integer ${s.minimum ?? ''}..${s.maximum ?? ''}`
        : s.type === 'string'
          ? s.format !== undefined
            ? `string, ${s.format}`
            : s.maxLength !== undefined
              ? `string up to ${s.maxLength} characters`
              : 'string'
          : (s.type ?? '');
  const def = s.default !== undefined ? `, default \`${s.default}\`` : '';
  return `\`${p.name}\` (${range}${def}): ${p.description ?? ''}`;
}

/** The OpenAPI document as @fastify/swagger gives it (`app.swagger()`). */
export type OpenApiDocument = { paths: Record<string, Record<string, Operation>> };

/** The markdown of docs/api.md, from the served app's OpenAPI document (the API with the dashboard). */
export function apiMarkdown(doc: OpenApiDocument): string {
  const lines = [
    '# HTTP API',
    '',
    '<!-- Generated from the OpenAPI document (src/realtime/api, src/realtime/dashboard) by `npm run docs`; do not edit by hand. -->',
    '',
    'Port 8000 by default. The OpenAPI document is served at `/openapi.json` and browsable at `/docs`;',
    'this page is generated from it. Events sent to `POST /events` follow [events.md](events.md).',
    '',
    '## Errors',
    '',
    'Every error is JSON: `{"error": "<stable code>", "message": "...", "parameter"?: "...", "allowed"?: "..."}`.',
    'A bad or unknown query parameter is a 400 naming it and what it accepts; integers must be plain decimal',
    'digits (`1e1`, `0x10`, ` 5`, `Infinity` are refused). A method a path does not declare is a 405 with',
    '`Allow`. A body with a `Content-Encoding` other than `identity` is a 415. A 500 carries only a request id.',
    '',
    '## Limits against hostile clients',
    '',
    `- A request (headers and body) must arrive within ${REQUEST_TIMEOUT_MS / 1000} s, else 408 and the connection closes;`,
    `  a connection idle for ${CONNECTION_IDLE_TIMEOUT_MS / 1000} s is closed. Malformed HTTP gets a JSON 400.`,
    `- \`POST /events\`: body up to ${MAX_BODY_BYTES / 1024 / 1024} MiB and ${MAX_EVENTS_PER_REQUEST} events, ${MAX_EVENT_BYTES / 1024} KiB an event; a`,
    '  JSON array element is judged on its own (a deeply nested one is refused as that element, the',
    '  others accepted); rate limited per client address (`RTSA_INGEST_RATE_LIMIT`).',
    `- Refused events are all answered, but at most ${MAX_KEPT_PER_REQUEST} a request, ${PER_ADDRESS_PER_MINUTE} a minute per client`,
    `  address and ${GLOBAL_PER_MINUTE} a minute in all are kept in \`dead_letter_events\` (the rest are counted in`,
    '  `not_kept`); the table has a retention (`RTSA_DEAD_LETTER_RETENTION`, `RTSA_DEAD_LETTER_MAX_ROWS`).',
    '- `GET /live`: at most 100 connections, 10 per client address (429 beyond); each stream is read as far',
    "  back as its own viewers ask, so one client's parameters do not slow the others' feed.",
    '',
    '## Endpoints',
  ];
  for (const [url, methods] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(methods)) {
      lines.push('', `### ${method.toUpperCase()} ${url}`, '', op.summary ?? '', '');
      if (op.description) lines.push(cell(op.description), '');
      const params = (op.parameters ?? []).filter((p) => p.in === 'query' || p.in === 'path');
      if (params.length > 0) {
        lines.push('Parameters:', '');
        for (const p of params) lines.push(`- ${cell(describeParameter(p))}`);
        lines.push('');
      }
      lines.push('| status | meaning |', '| --- | --- |');
      for (const [status, r] of Object.entries(op.responses ?? {})) {
        lines.push(`| ${status} | ${cell(r.description ?? '')} |`);
      }
    }
  }
  return `${lines.join('\n')}\n`;
}

/**
 * User checks: each `*.sql` file of the checks folder is a query that returns the rows that break
 * a rule (none: PASSED). `{{ date }}` in it stands for the checked date (a DATE literal). A header
 * comment may say `-- severity: warning` (failing rows give WARNING instead of FAILED) and
 * `-- description: …` (shown with the count). The check is named after the file. It runs in a
 * READ ONLY transaction with a statement timeout; a query that errors FAILS, naming the file.
 */
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { withTransaction } from '../../db/index.ts';
import type { CheckOutcome } from './check-result.ts';
import type { CheckContext } from './settings.ts';

/** Failing rows kept in the report and the results table. */
export const SAMPLE_ROWS = 10;

export interface SqlCheck {
  name: string;
  file: string;
  severity: 'error' | 'warning';
  description: string | undefined;
  sql: string;
}

/** The header lines: leading comment lines (and blank lines) before the query. */
function header(text: string): string[] {
  const lines: string[] = [];
  for (const line of text.split('\n')) {
    const t = line.trim();
    if (t === '') continue;
    if (!t.startsWith('--')) break;
    lines.push(t.slice(2).trim());
  }
  return lines;
}

/** Parses one check file's text. */
export function parseSqlCheck(file: string, text: string): SqlCheck {
  const meta = new Map<string, string>();
  for (const line of header(text)) {
    const m = /^([a-z_]+)\s*:\s*(.*)$/i.exec(line);
    if (m) meta.set(m[1]!.toLowerCase(), m[2]!.trim());
  }
  const severity = (meta.get('severity') ?? 'error').toLowerCase();
  if (severity !== 'error' && severity !== 'warning') {
    throw new Error(`${file}: "-- severity: ${severity}" should be error or warning`);
  }
  const sql = text.trim().replace(/;\s*$/, '');
  const body = text.split('\n').filter((l) => l.trim() !== '' && !l.trim().startsWith('--'));
  if (body.length === 0) {
    throw new Error(`${file} holds no query: write a SELECT that returns the rows breaking the rule`);
  }
  return {
    name: path.basename(file, '.sql'),
    file,
    severity,
    description: meta.get('description'),
    sql,
  };
}

/** The checks of a folder, in file-name order. A folder that does not exist has none. */
export async function loadSqlChecks(dir: string): Promise<{ checks: SqlCheck[]; errors: CheckError[] }> {
  let names: string[];
  try {
    names = (await readdir(dir)).filter((f) => f.endsWith('.sql')).sort();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { checks: [], errors: [] };
    throw error;
  }
  const checks: SqlCheck[] = [];
  const errors: CheckError[] = [];
  for (const name of names) {
    const file = path.join(dir, name);
    try {
      checks.push(parseSqlCheck(file, await readFile(file, 'utf8')));
    } catch (error) {
      errors.push({ name: path.basename(name, '.sql'), file, error: (error as Error).message });
    }
  }
  return { checks, errors };
}

/** A check file that could not be read or parsed: it FAILS, so a broken rule is never silent. */
export interface CheckError {
  name: string;
  file: string;
  error: string;
}

/** The query with `{{ date }}` bound; the date is a validated YYYY-MM-DD, never free text. */
export function boundSql(check: SqlCheck, date: string): string {
  if (!/^\d{4}-\d{2}-\d{2}$/.test(date)) throw new RangeError(`not a date: ${date}`);
  return check.sql.replace(/\{\{\s*date\s*\}\}/g, `DATE '${date}'`);
}

export async function runSqlCheck(ctx: CheckContext, check: SqlCheck): Promise<CheckOutcome> {
  const query = boundSql(check, ctx.date);
  const base = { file: check.file, severity: check.severity };
  let rows: Record<string, unknown>[];
  try {
    rows = await withTransaction(
      ctx.pool,
      async (client) => {
        await client.query('SET TRANSACTION READ ONLY');
        await client.query(
          `SET LOCAL statement_timeout = ${Math.max(1, Math.round(ctx.settings.sqlTimeoutMs))}`,
        );
        // The count over all failing rows comes with the first few, in one execution. The newline
        // before the parenthesis ends a trailing line comment of the user's query.
        const result = await client.query<Record<string, unknown>>(
          `SELECT count(*) OVER () AS "__rtsa_failing_rows", failing.* FROM (\n${query}\n) AS failing LIMIT ${SAMPLE_ROWS}`,
        );
        return result.rows;
      },
      `quality check ${check.name}`,
    );
  } catch (error) {
    return {
      status: 'FAILED',
      message: `The check's query failed: ${(error as Error).message}. Fix ${check.file}`,
      details: { ...base, error: (error as Error).message },
    };
  }
  const failing = Number(rows[0]?.__rtsa_failing_rows ?? 0);
  const sample = rows.map(({ __rtsa_failing_rows: _, ...rest }) => rest);
  if (failing === 0) {
    return { status: 'PASSED', message: 'No failing rows', details: { ...base, failing_rows: 0 } };
  }
  return {
    status: check.severity === 'warning' ? 'WARNING' : 'FAILED',
    message: `${failing} failing row(s)${check.description ? `: ${check.description}` : ''}`,
    details: { ...base, failing_rows: failing, sample_rows: JSON.parse(JSON.stringify(sample)) },
  };
}

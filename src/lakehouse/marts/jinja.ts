/**
 * The small part of Jinja the marts' dbt project uses, and nothing more: `{{ ref('model') }}`,
 * `{{ source('source', 'table') }}`, `{{ config(key='value', ...) }}`, `{# comments #}` and the
 * whitespace control of `{{-`/`-}}`. Anything else (a `{% %}` statement, a filter, another
 * function, a variable) is a ProjectError naming the file, the line and the construct, so a model
 * that would need real Jinja fails before anything is built instead of being half understood.
 */
import { ProjectError } from './project-error.ts';

/** A literal the subset accepts as an argument. */
export type JinjaValue = string | number | boolean | null;

export interface JinjaCall {
  name: 'ref' | 'source' | 'config';
  args: JinjaValue[];
  kwargs: Record<string, JinjaValue>;
}

/** What a call renders to (ref and source: a relation; config: nothing). */
export type JinjaResolver = (call: JinjaCall, where: string) => string;

const OPEN = /\{\{-?|\{%-?|\{#-?/g;
const FUNCTIONS = new Set(['ref', 'source', 'config']);
const SUPPORTED =
  'rtsa marts understands only {{ ref(...) }}, {{ source(...) }}, {{ config(...) }} and {# comments #}';

/** Renders `text` (the contents of `file`), calling `resolve` for each `{{ call(...) }}`. */
export function renderJinja(text: string, file: string, resolve: JinjaResolver): string {
  let out = '';
  let at = 0;
  OPEN.lastIndex = 0;
  for (let m = OPEN.exec(text); m !== null; m = OPEN.exec(text)) {
    const open = m[0];
    const start = m.index;
    const where = `${file}:${lineOf(text, start)}`;
    let before = text.slice(at, start);
    if (open.endsWith('-')) before = before.trimEnd();
    out += before;
    const close = open.startsWith('{{') ? '}}' : open.startsWith('{%') ? '%}' : '#}';
    const end = text.indexOf(close, start + open.length);
    if (end < 0) throw new ProjectError(`${where}: ${open} is never closed with ${close}`);
    let inner = text.slice(start + open.length, end);
    const trimAfter = inner.endsWith('-');
    if (trimAfter) inner = inner.slice(0, -1);
    at = end + close.length;
    if (trimAfter) at += text.slice(at).match(/^\s*/)?.[0].length ?? 0;
    if (open.startsWith('{#')) continue;
    const construct = `${open}${inner}${trimAfter ? '-' : ''}${close}`;
    if (open.startsWith('{%')) {
      throw new ProjectError(`${where}: the statement ${oneLine(construct)} is not supported: ${SUPPORTED}`);
    }
    out += resolve(parseCall(inner, `${where}: ${oneLine(construct)}`), where);
  }
  return out + text.slice(at);
}

/**
 * Parses one expression of the subset, e.g. `ref('users')` or `config(materialized='table')`.
 * `where` names the file, line and construct in errors. Also used for the `to:` of a YAML test.
 */
export function parseCall(expression: string, where: string): JinjaCall {
  const tokens = tokenize(expression, where);
  let i = 0;
  const peek = () => tokens[i];
  const next = () => tokens[i++];
  const fail = (what: string): never => {
    throw new ProjectError(`${where}: ${what}: ${SUPPORTED}`);
  };
  const name = next();
  if (name === undefined) fail('an empty expression');
  if (name?.kind !== 'name') fail('not a function call');
  const fn = (name as Token).text;
  if (!FUNCTIONS.has(fn)) fail(`${fn} is not supported`);
  if (next()?.text !== '(') fail(`${fn} without its (...)`);
  const args: JinjaValue[] = [];
  const kwargs: Record<string, JinjaValue> = {};
  while (peek()?.text !== ')') {
    const t = next();
    if (t === undefined) fail('a call is not closed with )');
    const token = t as Token;
    if (token.kind === 'name' && peek()?.text === '=') {
      next();
      kwargs[token.text] = literal(next(), fail);
    } else {
      if (Object.keys(kwargs).length > 0) fail('a positional argument after a keyword argument');
      args.push(literal(token, fail));
    }
    if (peek()?.text === ',') next();
    else if (peek()?.text !== ')') fail(`unexpected ${peek()?.text ?? 'end'} in the arguments`);
  }
  next();
  if (i < tokens.length) fail(`${tokens[i]?.text} after the call (filters and operators are not supported)`);
  return { name: fn as JinjaCall['name'], args, kwargs };
}

interface Token {
  kind: 'name' | 'string' | 'number' | 'punct';
  text: string;
}

function literal(token: Token | undefined, fail: (what: string) => never): JinjaValue {
  if (token === undefined) return fail('a missing argument');
  if (token.kind === 'string') return token.text;
  if (token.kind === 'number') return Number(token.text);
  if (token.kind === 'name') {
    if (token.text === 'true' || token.text === 'True') return true;
    if (token.text === 'false' || token.text === 'False') return false;
    if (token.text === 'none' || token.text === 'None') return null;
    return fail(`the variable ${token.text} (only literal arguments are supported)`);
  }
  return fail(`${token.text} where an argument should be (lists and expressions are not supported)`);
}

function tokenize(text: string, where: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < text.length) {
    const c = text[i] as string;
    if (/\s/.test(c)) {
      i++;
    } else if (c === "'" || c === '"') {
      let s = '';
      i++;
      while (i < text.length && text[i] !== c) {
        if (text[i] === '\\' && i + 1 < text.length) i++;
        s += text[i];
        i++;
      }
      if (i >= text.length) throw new ProjectError(`${where}: a string is not closed`);
      i++;
      tokens.push({ kind: 'string', text: s });
    } else if (/[A-Za-z_]/.test(c)) {
      const m = /^[A-Za-z_]\w*/.exec(text.slice(i)) as RegExpExecArray;
      tokens.push({ kind: 'name', text: m[0] });
      i += m[0].length;
    } else if (/[0-9]/.test(c)) {
      const m = /^[0-9]+(\.[0-9]+)?/.exec(text.slice(i)) as RegExpExecArray;
      tokens.push({ kind: 'number', text: m[0] });
      i += m[0].length;
    } else {
      tokens.push({ kind: 'punct', text: c });
      i++;
    }
  }
  return tokens;
}

function lineOf(text: string, index: number): number {
  let line = 1;
  for (let i = 0; i < index; i++) if (text.charCodeAt(i) === 10) line++;
  return line;
}

function oneLine(s: string): string {
  const flat = s.replace(/\s+/g, ' ');
  return flat.length > 80 ? `${flat.slice(0, 77)}...` : flat;
}

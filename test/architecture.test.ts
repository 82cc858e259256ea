/**
 * The folder tree is the architecture; this keeps it so. Reads every import of src/ and bench/
 * (static, dynamic and type-only) and checks: no import circles; the shared band never imports a
 * wing, the runtime or the CLI; no wing imports the other; inside system A the API and the
 * dashboard share only the serving read model and the HTTP kit; the processor knows no Postgres;
 * the CLI only parses and dispatches.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';

const ROOT = path.resolve(import.meta.dirname, '..');

function sources(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(path.join(ROOT, dir), { withFileTypes: true })) {
    const rel = `${dir}/${e.name}`;
    if (e.isDirectory()) out.push(...sources(rel));
    else if (e.name.endsWith('.ts')) out.push(rel);
  }
  return out;
}

const IMPORT = /(?:\bfrom\s+|\bimport\s*\(\s*|\bimport\s+)['"]([^'"]+)['"]/g;

/** file (relative to the repo) → its imports: resolved relative paths, or bare package names. */
function importGraph(files: string[]): Map<string, string[]> {
  const graph = new Map<string, string[]>();
  for (const file of files) {
    const text = readFileSync(path.join(ROOT, file), 'utf8');
    const deps: string[] = [];
    for (const m of text.matchAll(IMPORT)) {
      const spec = m[1] as string;
      deps.push(
        spec.startsWith('.') ? path.posix.normalize(path.posix.join(path.posix.dirname(file), spec)) : spec,
      );
    }
    graph.set(file, deps);
  }
  return graph;
}

const graph = importGraph([...sources('src'), ...sources('bench')]);

/** Strongly connected components with more than one file, or a file importing itself. */
function cycles(g: Map<string, string[]>): string[][] {
  let index = 0;
  const indices = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const found: string[][] = [];
  const visit = (v: string) => {
    indices.set(v, index);
    low.set(v, index);
    index++;
    stack.push(v);
    onStack.add(v);
    for (const w of g.get(v) ?? []) {
      if (!g.has(w)) continue;
      if (!indices.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v) as number, low.get(w) as number));
      } else if (onStack.has(w)) {
        low.set(v, Math.min(low.get(v) as number, indices.get(w) as number));
      }
    }
    if (low.get(v) === indices.get(v)) {
      const scc: string[] = [];
      let w: string;
      do {
        w = stack.pop() as string;
        onStack.delete(w);
        scc.push(w);
      } while (w !== v);
      if (scc.length > 1 || (g.get(v) ?? []).includes(v)) found.push(scc.sort());
    }
  };
  for (const v of g.keys()) if (!indices.has(v)) visit(v);
  return found;
}

function violations(from: (f: string) => boolean, to: (dep: string) => boolean): string[] {
  const out: string[] = [];
  for (const [file, deps] of graph) {
    if (!from(file)) continue;
    for (const d of deps) if (to(d)) out.push(`${file} → ${d}`);
  }
  return out;
}

const under =
  (...dirs: string[]) =>
  (f: string) =>
    dirs.some((d) => f === d || f.startsWith(`${d}/`));
const SHARED = under(
  'src/errors.ts',
  'src/telemetry',
  'src/config',
  'src/events',
  'src/bus',
  'src/db',
  'src/http',
  'src/generator',
);

test('no import circles in src/ or bench/', () => {
  assert.deepEqual(cycles(graph), []);
});

test('the shared band imports no wing, no runtime, no CLI, no ops', () => {
  assert.deepEqual(
    violations(SHARED, under('src/realtime', 'src/lakehouse', 'src/runtime', 'src/cli', 'src/ops')),
    [],
  );
});

test('neither wing imports the other', () => {
  assert.deepEqual(violations(under('src/realtime'), under('src/lakehouse')), []);
  assert.deepEqual(violations(under('src/lakehouse'), under('src/realtime')), []);
});

test('the API and the dashboard share only serving and the HTTP kit', () => {
  assert.deepEqual(violations(under('src/realtime/api'), under('src/realtime/dashboard')), []);
  assert.deepEqual(violations(under('src/realtime/dashboard'), under('src/realtime/api')), []);
});

test('the processor knows its port, not Postgres', () => {
  assert.deepEqual(
    violations(
      under('src/realtime/processor'),
      (d) => d === 'pg' || under('src/db', 'src/realtime/serving', 'src/realtime/api')(d),
    ),
    [],
  );
});

test('only the runtime composes roles; the CLI parses and dispatches', () => {
  assert.deepEqual(
    violations(
      under('src/cli'),
      (d) =>
        d.startsWith('src/') &&
        !['src/config/index.ts', 'src/errors.ts', 'src/telemetry/logger.ts', 'src/runtime/index.ts'].includes(
          d,
        ),
    ),
    [],
  );
  assert.deepEqual(
    violations((f) => f.startsWith('src/') && !under('src/runtime', 'src/cli')(f), under('src/runtime')),
    [],
  );
});

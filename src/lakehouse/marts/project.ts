/**
 * Reads a dbt project folder the way dbt does, for the part rtsa's runner supports:
 *   dbt_project.yml  name, model-paths, test-paths, and per-folder `+materialized` / `+schema`
 *                    under `models: <project name>:`
 *   models/**.sql    one model per file, named after it; `{{ config(...) }}` in the file wins
 *   models/**.yml    `sources:` (a source's `schema`, its tables) and `models:` with column tests
 *                    (`data_tests:` or `tests:`): unique, not_null, accepted_values, relationships
 *   tests/**.sql     singular tests: a query returning the rows that break a rule
 * Every model and test is rendered here, so an unsupported construct, a ref to nothing or a
 * cycle is found before anything is built.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { genericTestSql, type GenericTestKind, genericTestName } from './generic-tests.ts';
import { type JinjaCall, type JinjaValue, parseCall, renderJinja } from './jinja.ts';
import { modelOrder } from './model-order.ts';
import { ProjectError } from './project-error.ts';

export type Materialization = 'table' | 'view';
export type Severity = 'error' | 'warn';

export interface Model {
  name: string;
  /** Relative to the project folder. */
  file: string;
  schema: string;
  materialized: Materialization;
  /** `"schema"."name"`. */
  relation: string;
  /** The SQL with every ref and source rendered. */
  sql: string;
  /** The models it refs. */
  refs: string[];
}

export interface DataTest {
  name: string;
  kind: 'generic' | 'singular';
  /** Where it is declared, relative to the project folder. */
  file: string;
  severity: Severity;
  /** A query returning the failing rows. */
  sql: string;
}

export interface MartsProject {
  name: string;
  dir: string;
  /** In build order: every model after the models it refs. */
  models: Model[];
  tests: DataTest[];
}

export interface LoadProjectOptions {
  /** Where models without a custom schema go (dbt: the profile's schema). Default `marts`. */
  defaultSchema?: string;
}

const MODEL_CONFIG = new Set(['materialized', 'schema']);
const TEST_CONFIG = new Set(['severity']);
const IDENT = /^[A-Za-z_][A-Za-z0-9_]*$/;
/** Postgres truncates identifiers at 63 bytes; the build's temporary names add 11. */
const MAX_NAME = 63 - 11;

export function loadProject(dir: string, options: LoadProjectOptions = {}): MartsProject {
  const defaultSchema = options.defaultSchema ?? 'marts';
  const projectFile = path.join(dir, 'dbt_project.yml');
  const project = readYaml(projectFile, 'dbt_project.yml') as Record<string, unknown> | null;
  if (project === null || typeof project !== 'object') {
    throw new ProjectError(`${projectFile} is empty or not a mapping: is ${dir} a dbt project folder?`);
  }
  const name = project.name;
  if (typeof name !== 'string') throw new ProjectError(`${projectFile}: \`name\` is missing`);
  const modelPaths = paths(project['model-paths'], ['models'], 'model-paths');
  const testPaths = paths(project['test-paths'], ['tests'], 'test-paths');
  const folderConfig = (project.models as Record<string, unknown> | undefined)?.[name];

  // Models: every .sql under the model paths.
  const files = modelPaths.flatMap((p) => listFiles(dir, p, '.sql'));
  const byName = new Map<string, { file: string; folders: string[] }>();
  for (const { file, folders } of files) {
    const model = path.basename(file, '.sql');
    const seen = byName.get(model);
    if (seen !== undefined) throw new ProjectError(`two models are named ${model}: ${seen.file} and ${file}`);
    if (!IDENT.test(model) || model.length > MAX_NAME) {
      throw new ProjectError(
        `${file}: a model name must be a plain identifier of at most ${MAX_NAME} characters (letters, digits, _)`,
      );
    }
    byName.set(model, { file, folders });
  }

  // Sources and column tests: every .yml under the model paths.
  const sources = new Map<string, { schema: string; tables: Set<string> }>();
  const declarations: { file: string; raw: Record<string, unknown> }[] = [];
  for (const p of modelPaths) {
    for (const { file } of [...listFiles(dir, p, '.yml'), ...listFiles(dir, p, '.yaml')]) {
      const raw = readYaml(path.join(dir, file), file);
      if (raw === null || raw === undefined) continue;
      if (typeof raw !== 'object') throw new ProjectError(`${file}: expected a mapping`);
      declarations.push({ file, raw: raw as Record<string, unknown> });
      for (const s of list((raw as Record<string, unknown>).sources, `${file}: sources`)) {
        const source = s as Record<string, unknown>;
        const sourceName = str(source.name, `${file}: a source's name`);
        if (source.database !== undefined) {
          throw new ProjectError(
            `${file}: source ${sourceName} sets a database: sources must be in the same database`,
          );
        }
        const tables = new Set<string>();
        for (const t of list(source.tables, `${file}: source ${sourceName} tables`)) {
          tables.add(str((t as Record<string, unknown>).name, `${file}: a table of source ${sourceName}`));
        }
        sources.set(sourceName, { schema: str(source.schema ?? sourceName, `${file}: schema`), tables });
      }
    }
  }

  const sourceRelation = (call: JinjaCall, where: string): string => {
    const [s, t] = call.args;
    if (call.args.length !== 2 || typeof s !== 'string' || typeof t !== 'string' || hasKw(call)) {
      throw new ProjectError(`${where}: source() takes two names: source('source', 'table')`);
    }
    const source = sources.get(s);
    if (source === undefined)
      throw new ProjectError(`${where}: source('${s}', '${t}'): no source ${s} is declared in a .yml file`);
    if (!source.tables.has(t))
      throw new ProjectError(`${where}: source('${s}', '${t}'): source ${s} declares no table ${t}`);
    return relation(source.schema, t);
  };

  // Render the models: their refs, their sources, their config.
  const rendered = new Map<string, Omit<Model, 'relation' | 'sql'> & { template: string }>();
  for (const [model, { file, folders }] of byName) {
    const config: Record<string, JinjaValue> = { materialized: 'view' }; // dbt's default
    Object.assign(config, configOf(folderConfig, folders, projectFile));
    const refs: string[] = [];
    const template = readFileSync(path.join(dir, file), 'utf8');
    renderJinja(template, file, (call, where) => {
      if (call.name === 'config') {
        for (const [k, v] of Object.entries(call.kwargs)) {
          if (!MODEL_CONFIG.has(k))
            throw new ProjectError(
              `${where}: config(${k}=...) is not supported in a model (only materialized, schema)`,
            );
          config[k] = v;
        }
        if (call.args.length > 0) throw new ProjectError(`${where}: config() takes keyword arguments only`);
      } else if (call.name === 'ref') refs.push(refName(call, where, byName));
      else sourceRelation(call, where);
      return '';
    });
    const materialized = config.materialized;
    if (materialized !== 'table' && materialized !== 'view') {
      throw new ProjectError(
        `${file}: materialized=${JSON.stringify(materialized)} is not supported by rtsa marts (table or view)`,
      );
    }
    const schema = config.schema ?? defaultSchema;
    if (typeof schema !== 'string' || !IDENT.test(schema)) {
      throw new ProjectError(`${file}: schema ${JSON.stringify(schema)} must be a plain identifier`);
    }
    rendered.set(model, { name: model, file, schema, materialized, refs: [...new Set(refs)], template });
  }
  const relations = new Map([...rendered.values()].map((m) => [m.name, relation(m.schema, m.name)]));
  const resolve = (call: JinjaCall, where: string): string => {
    if (call.name === 'ref') return relations.get(refName(call, where, byName)) as string;
    if (call.name === 'source') return sourceRelation(call, where);
    return '';
  };
  const order = modelOrder([...rendered.values()].map((m) => ({ name: m.name, file: m.file, refs: m.refs })));
  const models: Model[] = order.map((n) => {
    const m = rendered.get(n) as Omit<Model, 'relation' | 'sql'> & { template: string };
    return {
      name: m.name,
      file: m.file,
      schema: m.schema,
      materialized: m.materialized,
      refs: m.refs,
      relation: relations.get(n) as string,
      sql: stripSemicolon(renderJinja(m.template, m.file, resolve)),
    };
  });

  // Data tests: generic ones from the .yml files, singular ones from the test paths.
  const tests: DataTest[] = [];
  const names = new Set<string>();
  const add = (t: DataTest) => {
    if (names.has(t.name)) throw new ProjectError(`${t.file}: two data tests are named ${t.name}`);
    names.add(t.name);
    tests.push(t);
  };
  for (const { file, raw } of declarations) {
    for (const s of list(raw.sources, `${file}: sources`)) {
      const source = s as Record<string, unknown>;
      const sourceName = source.name as string;
      for (const t of list(source.tables, '')) {
        const table = t as Record<string, unknown>;
        const tableName = table.name as string;
        noModelTests(table, `${file}: source ${sourceName}.${tableName}`);
        for (const col of list(table.columns, `${file}: ${sourceName}.${tableName} columns`)) {
          const column = col as Record<string, unknown>;
          for (const t2 of columnTests(column, `${file}: ${sourceName}.${tableName}`)) {
            add(
              generic(t2, {
                file,
                prefix: 'source_',
                parentName: `${sourceName}_${tableName}`,
                relation: relation(sources.get(sourceName)?.schema ?? sourceName, tableName),
                column: str(column.name, `${file}: a column of ${sourceName}.${tableName}`),
                resolve,
              }),
            );
          }
        }
      }
    }
    for (const m of list(raw.models, `${file}: models`)) {
      const model = m as Record<string, unknown>;
      const modelName = str(model.name, `${file}: a model's name`);
      const rel = relations.get(modelName);
      if (rel === undefined)
        throw new ProjectError(`${file}: model ${modelName} has no .sql file in ${modelPaths.join(', ')}`);
      noModelTests(model, `${file}: model ${modelName}`);
      for (const col of list(model.columns, `${file}: ${modelName} columns`)) {
        const column = col as Record<string, unknown>;
        for (const t of columnTests(column, `${file}: ${modelName}`)) {
          add(
            generic(t, {
              file,
              prefix: '',
              parentName: modelName,
              relation: rel,
              column: str(column.name, `${file}: a column of ${modelName}`),
              resolve,
            }),
          );
        }
      }
    }
  }
  for (const p of testPaths) {
    for (const { file } of listFiles(dir, p, '.sql')) {
      const template = readFileSync(path.join(dir, file), 'utf8');
      let severity: Severity = 'error';
      const sql = renderJinja(template, file, (call, where) => {
        if (call.name !== 'config') return resolve(call, where);
        for (const [k, v] of Object.entries(call.kwargs)) {
          if (!TEST_CONFIG.has(k))
            throw new ProjectError(`${where}: config(${k}=...) is not supported in a test (only severity)`);
          severity = severityOf(v, where);
        }
        return '';
      });
      add({ name: path.basename(file, '.sql'), kind: 'singular', file, severity, sql: stripSemicolon(sql) });
    }
  }
  tests.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return { name, dir, models, tests };
}

interface ColumnTest {
  kind: GenericTestKind;
  args: Record<string, unknown>;
  severity: Severity;
  where: string;
}

const GENERIC: Record<GenericTestKind, readonly string[]> = {
  unique: [],
  not_null: [],
  accepted_values: ['values', 'quote'],
  relationships: ['to', 'field'],
};

function columnTests(column: Record<string, unknown>, where: string): ColumnTest[] {
  const entries = [...list(column.data_tests, where), ...list(column.tests, where)];
  return entries.map((entry) => {
    const at = `${where}.${String(column.name)}`;
    if (typeof entry === 'string') return { kind: kindOf(entry, at), args: {}, severity: 'error', where: at };
    if (entry === null || typeof entry !== 'object' || Object.keys(entry).length !== 1) {
      throw new ProjectError(`${at}: a test is a name or a mapping of one name to its arguments`);
    }
    const [[name, body]] = Object.entries(entry as Record<string, unknown>) as [[string, unknown]];
    const kind = kindOf(name, at);
    const spec = (body ?? {}) as Record<string, unknown>;
    let severity: Severity = 'error';
    let args: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(spec)) {
      if (k === 'arguments') args = { ...args, ...(v as Record<string, unknown>) };
      else if (k === 'config') {
        for (const [ck, cv] of Object.entries((v ?? {}) as Record<string, unknown>)) {
          if (!TEST_CONFIG.has(ck))
            throw new ProjectError(`${at}: ${name} config ${ck} is not supported (only severity)`);
          severity = severityOf(cv, at);
        }
      } else if (k === 'severity') severity = severityOf(v, at);
      else args[k] = v; // arguments at the top level: dbt's older form
    }
    for (const k of Object.keys(args)) {
      if (!GENERIC[kind].includes(k))
        throw new ProjectError(
          `${at}: ${name} takes no argument ${k} (rtsa marts supports: ${GENERIC[kind].join(', ') || 'none'})`,
        );
    }
    return { kind, args, severity, where: at };
  });
}

function generic(
  t: ColumnTest,
  ctx: {
    file: string;
    prefix: string;
    parentName: string;
    relation: string;
    column: string;
    resolve: (call: JinjaCall, where: string) => string;
  },
): DataTest {
  const { kind, args, where } = t;
  let sql: string;
  if (kind === 'accepted_values') {
    const values = args.values;
    if (!Array.isArray(values) || values.length === 0)
      throw new ProjectError(`${where}: accepted_values needs a non-empty list \`values\``);
    sql = genericTestSql({
      kind,
      relation: ctx.relation,
      column: ctx.column,
      values,
      quote: args.quote !== false,
    });
  } else if (kind === 'relationships') {
    const to = str(args.to, `${where}: relationships \`to\``);
    const field = str(args.field, `${where}: relationships \`field\``);
    const call = parseCall(to, `${where}: to: ${to}`);
    if (call.name === 'config')
      throw new ProjectError(`${where}: relationships \`to\` must be ref(...) or source(...)`);
    sql = genericTestSql({
      kind,
      relation: ctx.relation,
      column: ctx.column,
      to: ctx.resolve(call, where),
      field,
    });
  } else {
    sql = genericTestSql({ kind, relation: ctx.relation, column: ctx.column });
  }
  return {
    name: genericTestName(ctx.prefix, kind, ctx.parentName, { column_name: ctx.column, ...args }),
    kind: 'generic',
    file: ctx.file,
    severity: t.severity,
    sql,
  };
}

function kindOf(name: string, where: string): GenericTestKind {
  if (Object.hasOwn(GENERIC, name)) return name as GenericTestKind;
  throw new ProjectError(
    `${where}: the test ${name} is not supported by rtsa marts (unique, not_null, accepted_values, relationships; or write a singular test in tests/)`,
  );
}

function severityOf(v: unknown, where: string): Severity {
  const s = String(v).toLowerCase();
  if (s === 'warn' || s === 'error') return s;
  throw new ProjectError(`${where}: severity ${JSON.stringify(v)} must be warn or error`);
}

function noModelTests(node: Record<string, unknown>, where: string) {
  if (node.data_tests !== undefined || node.tests !== undefined) {
    throw new ProjectError(
      `${where}: tests on a whole model or table are not supported; put them on a column or in tests/`,
    );
  }
}

function refName(call: JinjaCall, where: string, models: Map<string, unknown>): string {
  const [name] = call.args;
  if (call.args.length !== 1 || typeof name !== 'string' || hasKw(call)) {
    throw new ProjectError(
      `${where}: ref() takes one model name: ref('model') (packages and versions are not supported)`,
    );
  }
  if (!models.has(name)) throw new ProjectError(`${where}: ref('${name}'): the project has no model ${name}`);
  return name;
}

const hasKw = (call: JinjaCall) => Object.keys(call.kwargs).length > 0;

/** The config of a model in `folders`, from dbt_project.yml's `models: <project>:` tree. */
function configOf(tree: unknown, folders: readonly string[], file: string): Record<string, JinjaValue> {
  const out: Record<string, JinjaValue> = {};
  let node = tree;
  const levels = [...folders];
  for (;;) {
    if (node === undefined || node === null) break;
    if (typeof node !== 'object')
      throw new ProjectError(`${file}: models: expected a mapping of folders and +config`);
    for (const [k, v] of Object.entries(node as Record<string, unknown>)) {
      const key = k.startsWith('+') ? k.slice(1) : k;
      if (MODEL_CONFIG.has(key)) out[key] = v as JinjaValue;
      else if (k.startsWith('+'))
        throw new ProjectError(`${file}: ${k} is not supported by rtsa marts (only +materialized, +schema)`);
    }
    const folder = levels.shift();
    if (folder === undefined) break;
    node = (node as Record<string, unknown>)[folder];
  }
  return out;
}

function relation(schema: string, name: string): string {
  return `"${schema.replaceAll('"', '""')}"."${name.replaceAll('"', '""')}"`;
}

function stripSemicolon(sql: string): string {
  return sql.trim().replace(/;\s*$/, '');
}

function readYaml(file: string, name: string): unknown {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new ProjectError(`cannot read ${file}: ${(error as Error).message} (is it a dbt project folder?)`, {
      cause: error,
    });
  }
  try {
    return parseYaml(text);
  } catch (error) {
    throw new ProjectError(`${name}: not valid YAML: ${(error as Error).message}`, { cause: error });
  }
}

function paths(value: unknown, fallback: string[], key: string): string[] {
  if (value === undefined) return fallback;
  if (!Array.isArray(value) || !value.every((v) => typeof v === 'string')) {
    throw new ProjectError(`dbt_project.yml: ${key} must be a list of folders`);
  }
  return value;
}

function list(value: unknown, where: string): unknown[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) throw new ProjectError(`${where}: expected a list`);
  return value;
}

function str(value: unknown, where: string): string {
  if (typeof value !== 'string' || value === '')
    throw new ProjectError(`${where} must be a non-empty string`);
  return value;
}

/** Files ending in `ext` under `dir/sub`, sorted, with their folders below `sub`. */
function listFiles(dir: string, sub: string, ext: string): { file: string; folders: string[] }[] {
  const root = path.join(dir, sub);
  const out: { file: string; folders: string[] }[] = [];
  const walk = (rel: string[]) => {
    const here = path.join(root, ...rel);
    for (const e of readdirSync(here, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1))) {
      if (e.isDirectory()) walk([...rel, e.name]);
      else if (e.name.endsWith(ext)) out.push({ file: path.join(sub, ...rel, e.name), folders: rel });
    }
  };
  try {
    if (!statSync(root).isDirectory()) return [];
  } catch {
    return [];
  }
  walk([]);
  return out;
}

/**
 * Reading a dbt project: the Jinja subset and what falls outside it, ref order and cycles, folder
 * and in-file config, the test forms dbt accepts. Small projects written to a temporary folder.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { loadProject, ProjectError } from '../../../src/lakehouse/marts/index.ts';
import { renderJinja } from '../../../src/lakehouse/marts/jinja.ts';

const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function projectWith(files: Record<string, string>): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'rtsa-marts-project-'));
  dirs.push(dir);
  const all: Record<string, string> = {
    'dbt_project.yml': 'name: p\nmodels:\n  p:\n    +materialized: table\n    marts:\n      +schema: marts\n',
    'models/sources.yml':
      'version: 2\nsources:\n  - name: warehouse\n    tables:\n      - name: fact_events\n      - name: dim_user\n',
    ...files,
  };
  for (const [file, text] of Object.entries(all)) {
    mkdirSync(path.dirname(path.join(dir, file)), { recursive: true });
    writeFileSync(path.join(dir, file), text);
  }
  return dir;
}

const fails = (files: Record<string, string>, message: RegExp) =>
  assert.throws(
    () => loadProject(projectWith(files)),
    (e: unknown) => e instanceof ProjectError && message.test(e.message),
  );

test('models come in ref order and render ref, source and config', () => {
  const p = loadProject(
    projectWith({
      'models/marts/c.sql': 'select * from {{ ref(\'b\') }} join {{ ref("a") }} using (id)',
      'models/marts/b.sql': "{{ config(materialized='view') }}\nselect * from {{ ref('a') }}",
      'models/marts/a.sql':
        "{#- a comment -#}\nselect 1 as id from {{ source('warehouse', 'fact_events') }};\n",
      'models/staging/z.sql': 'select 2 as id',
    }),
  );
  assert.deepEqual(
    p.models.map((m) => [m.name, m.relation, m.materialized]),
    [
      ['a', '"marts"."a"', 'table'],
      ['z', '"marts"."z"', 'table'], // no custom schema: the default (the profile's) schema
      ['b', '"marts"."b"', 'view'],
      ['c', '"marts"."c"', 'table'],
    ],
  );
  assert.equal(p.models[0]?.sql, 'select 1 as id from "warehouse"."fact_events"');
  assert.equal(p.models[3]?.sql, 'select * from "marts"."b" join "marts"."a" using (id)');
});

test('a folder without +schema builds into the default schema; +schema is used as it is', () => {
  const p = loadProject(
    projectWith({
      'dbt_project.yml':
        'name: p\nmodels:\n  p:\n    +materialized: table\n    other:\n      +schema: reporting\n',
      'models/other/x.sql': 'select 1',
      'models/y.sql': "{{ config(schema='custom') }} select 1",
    }),
    { defaultSchema: 'analytics' },
  );
  assert.deepEqual(
    p.models.map((m) => m.relation),
    ['"reporting"."x"', '"custom"."y"'],
  );
});

test('a cycle of refs is an error naming the models and their files', () => {
  fails(
    {
      'models/marts/a.sql': "select * from {{ ref('c') }}",
      'models/marts/b.sql': "select * from {{ ref('a') }}",
      'models/marts/c.sql': "select * from {{ ref('b') }}",
      'models/marts/d.sql': "select * from {{ ref('a') }}",
    },
    /cycle: a → c → b → a \(models\/marts\/a\.sql, models\/marts\/c\.sql, models\/marts\/b\.sql\)/,
  );
  fails({ 'models/a.sql': "select * from {{ ref('a') }}" }, /model a \(models\/a\.sql\) refs itself/);
});

test('Jinja outside the subset is an error naming the file, the line and the construct', () => {
  fails(
    { 'models/a.sql': 'select 1\n{% if true %}, 2{% endif %}' },
    /models\/a\.sql:2: the statement \{% if true %\} is not supported/,
  );
  fails(
    { 'models/a.sql': 'select \'{{ var("x") }}\'' },
    /models\/a\.sql:1: \{\{ var\("x"\) \}\}: var is not supported/,
  );
  fails({ 'models/a.sql': "select {{ ref('b') | upper }}" }, /models\/a\.sql:1: .*\| after the call/);
  fails({ 'models/a.sql': 'select {{ this }}' }, /\{\{ this \}\}: this is not supported/);
  fails({ 'models/a.sql': "select {{ ref('b') }}" }, /ref\('b'\): the project has no model b/);
  fails({ 'models/a.sql': "select {{ ref('pkg', 'b') }}" }, /ref\(\) takes one model name/);
  fails(
    { 'models/a.sql': "select {{ source('warehouse', 'nope') }}" },
    /source warehouse declares no table nope/,
  );
  fails({ 'models/a.sql': "select {{ source('lake', 'x') }}" }, /no source lake is declared/);
  fails(
    { 'models/a.sql': "{{ config(materialized='incremental') }} select 1" },
    /materialized="incremental" is not supported/,
  );
  fails({ 'models/a.sql': "{{ config(tags='x') }} select 1" }, /config\(tags=\.\.\.\) is not supported/);
  fails({ 'models/a.sql': 'select {{ ref(' }, /\{\{ is never closed/);
});

test('column tests in both of dbt forms; unknown tests and arguments are errors', () => {
  const p = loadProject(
    projectWith({
      'models/marts/a.sql': 'select 1 as id, 1 as x',
      'models/marts/schema.yml': `version: 2
models:
  - name: a
    columns:
      - name: id
        data_tests:
          - unique
          - relationships:
              arguments:
                to: source('warehouse', 'dim_user')
                field: user_id
      - name: x
        tests:
          - accepted_values:
              values: [1, 2]
              quote: false
              config:
                severity: warn
`,
      'tests/no_negative.sql': "{{ config(severity='error') }}\nselect * from {{ ref('a') }} where x < 0",
    }),
  );
  assert.deepEqual(
    p.tests.map((t) => [t.name, t.kind, t.severity]),
    [
      ['accepted_values_a_x__False__1__2', 'generic', 'warn'],
      ['no_negative', 'singular', 'error'],
      ['relationships_a_id__user_id__source_warehouse_dim_user_', 'generic', 'error'],
      ['unique_a_id', 'generic', 'error'],
    ],
  );
  assert.match(p.tests[0]?.sql ?? '', /where value_field not in \(1, 2\)/);
  assert.match(p.tests[2]?.sql ?? '', /from "warehouse"."dim_user"/);
  assert.equal(p.tests[1]?.sql, 'select * from "marts"."a" where x < 0');

  const schema = (test: string) => ({
    'models/a.sql': 'select 1 as id',
    'models/schema.yml': `version: 2\nmodels:\n  - name: a\n    columns:\n      - name: id\n        data_tests:\n          - ${test}\n`,
  });
  fails(schema('dbt_utils.expression_is_true'), /the test dbt_utils.expression_is_true is not supported/);
  fails(schema('unique:\n              where: "id > 0"'), /unique takes no argument where/);
  fails(schema('accepted_values:\n              values: []'), /accepted_values needs a non-empty list/);
  fails(
    schema("relationships:\n              to: ref('b')\n              field: id"),
    /the project has no model b/,
  );
  fails({ 'models/schema.yml': 'version: 2\nmodels:\n  - name: ghost\n' }, /model ghost has no \.sql file/);
});

test('a folder that is not a dbt project says so', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'rtsa-marts-empty-'));
  dirs.push(dir);
  assert.throws(() => loadProject(dir), /cannot read .*dbt_project\.yml.*is it a dbt project folder/);
});

test('whitespace control and comments render as in Jinja', () => {
  const out = renderJinja("a {#- c -#} b {{- ref('x') -}} c {{ source('s', 't') }} d", 'f.sql', (call) =>
    call.name === 'ref' ? 'X' : `${call.args.join('.')}`,
  );
  assert.equal(out, 'abXc s.t d');
});

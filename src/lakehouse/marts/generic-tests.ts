/**
 * dbt's four built-in generic tests, as the same queries dbt-core 1.11 runs (its default macros):
 * each returns the rows that break the rule, and a test fails when it returns any. Names follow
 * dbt's too (`unique_churn_risk_user_id`, `source_accepted_values_warehouse_fact_events_...`), so
 * a failure reads the same whichever runner found it.
 */
export type GenericTestKind = 'unique' | 'not_null' | 'accepted_values' | 'relationships';

export type GenericTestSpec =
  | { kind: 'unique' | 'not_null'; relation: string; column: string }
  | { kind: 'accepted_values'; relation: string; column: string; values: unknown[]; quote: boolean }
  | { kind: 'relationships'; relation: string; column: string; to: string; field: string };

export function genericTestSql(spec: GenericTestSpec): string {
  const col = identifier(spec.column);
  switch (spec.kind) {
    case 'not_null':
      return `select ${col}\nfrom ${spec.relation}\nwhere ${col} is null`;
    case 'unique':
      return `select ${col} as unique_field, count(*) as n_records\nfrom ${spec.relation}\nwhere ${col} is not null\ngroup by ${col}\nhaving count(*) > 1`;
    case 'accepted_values': {
      const list = spec.values
        .map((v) => (spec.quote ? `'${String(v).replaceAll("'", "''")}'` : String(v)))
        .join(', ');
      return `with all_values as (\n  select ${col} as value_field, count(*) as n_records\n  from ${spec.relation}\n  group by ${col}\n)\nselect *\nfrom all_values\nwhere value_field not in (${list})`;
    }
    case 'relationships':
      return `with child as (\n  select ${col} as from_field\n  from ${spec.relation}\n  where ${col} is not null\n),\nparent as (\n  select ${identifier(spec.field)} as to_field\n  from ${spec.to}\n)\nselect from_field\nfrom child\nleft join parent on child.from_field = parent.to_field\nwhere parent.to_field is null`;
  }
}

/** dbt's name for a generic test: `<prefix><test>_<model>_<arguments, flattened and cleaned>`. */
export function genericTestName(
  prefix: string,
  kind: GenericTestKind,
  parent: string,
  args: Record<string, unknown>,
): string {
  const flat: string[] = [];
  for (const key of Object.keys(args).sort()) {
    const value = args[key];
    if (Array.isArray(value)) flat.push(...value.map(pythonStr));
    else if (value !== null && typeof value === 'object') flat.push(...Object.values(value).map(pythonStr));
    else flat.push(pythonStr(value));
  }
  const clean = flat.map((a) => a.replace(/[^0-9a-zA-Z_]+/g, '_'));
  return `${prefix}${kind}_${parent}_${clean.join('__')}`;
}

/** What Python's str() gives (dbt builds the names in Python): True, False, None. */
function pythonStr(value: unknown): string {
  if (value === true) return 'True';
  if (value === false) return 'False';
  if (value === null || value === undefined) return 'None';
  return String(value);
}

function identifier(name: string): string {
  return /^[a-z_][a-z0-9_]*$/.test(name) ? name : `"${name.replaceAll('"', '""')}"`;
}

{#
  A model's custom schema is its schema, as is: `+schema: marts` builds into `marts`, not dbt's
  default `<target schema>_marts`. rtsa's own runner follows the same rule.
#}
{% macro generate_schema_name(custom_schema_name, node) -%}
  {%- if custom_schema_name is none -%}
    {{ target.schema }}
  {%- else -%}
    {{ custom_schema_name | trim }}
  {%- endif -%}
{%- endmacro %}

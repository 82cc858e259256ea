#!/usr/bin/env bash
# Real dbt against rtsa's own marts runner: installs dbt-core and dbt-postgres (pinned, from PyPI)
# into .venv-tools/ under the repository (gitignored) on first use, then runs the dbt suite
# (test/dbt/dbt-equivalence.test.ts): the same warehouse, marts built by rtsa and by `dbt build`,
# rows compared exactly, and the same data tests failing on broken rows.
# Environment: DBT_CORE_VERSION, DBT_POSTGRES_VERSION. Exits non-zero when the suite fails.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
core=${DBT_CORE_VERSION:-1.11.16}
adapter=${DBT_POSTGRES_VERSION:-1.11.0}
venv=.venv-tools
export DBT_SEND_ANONYMOUS_USAGE_STATS=false

installed() {
  "$venv/bin/python" -c "import importlib.metadata as m; print(m.version('$1'))" 2>/dev/null || true
}
if [[ ! -x $venv/bin/dbt ]] || [[ $(installed dbt-core) != "$core" ]] || [[ $(installed dbt-postgres) != "$adapter" ]]; then
  echo "installing dbt-core $core and dbt-postgres $adapter into $venv/"
  python3 -m venv "$venv"
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "dbt-core==$core" "dbt-postgres==$adapter"
fi
"$venv/bin/dbt" --version
export RTSA_DBT="$PWD/$venv/bin/dbt"
exec npx --no-install node scripts/test.ts dbt

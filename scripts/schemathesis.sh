#!/usr/bin/env bash
# Schemathesis (PyPI) against the rtsa API's OpenAPI document, with every check.
#
#   scripts/schemathesis.sh                  start `rtsa start --no-generator` on a fresh data folder and a
#                                            free loopback port, test it, stop it
#   scripts/schemathesis.sh http://host:port test a running API instead
#   ... [extra schemathesis args]            e.g. --max-examples 100 --seed 7
#
# Installs Schemathesis (pinned) into .venv-tools/ under the repository (gitignored) on first use.
# Environment: SCHEMATHESIS_VERSION, RTSA_ST_MAX_EXAMPLES (default 25), RTSA_ST_SEED (default 1).
# Exits non-zero when Schemathesis finds any failure.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
version=${SCHEMATHESIS_VERSION:-4.32.5}
venv=.venv-tools

if [[ ! -x $venv/bin/schemathesis ]] ||
  [[ $("$venv/bin/python" -c 'import importlib.metadata as m; print(m.version("schemathesis"))' 2>/dev/null) != "$version" ]]; then
  echo "installing schemathesis $version into $venv/"
  python3 -m venv "$venv"
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "schemathesis==$version"
fi

base=
if [[ ${1-} == http* ]]; then
  base=$1
  shift
fi

server_pid=
data_dir=
cleanup() {
  if [[ -n $server_pid ]]; then
    kill -INT "$server_pid" 2>/dev/null || true
    for _ in $(seq 1 200); do kill -0 "$server_pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$server_pid" 2>/dev/null || true
  fi
  [[ -n $data_dir ]] && rm -rf "$data_dir"
  return 0
}
trap cleanup EXIT
# A signal (CI's `timeout`, Ctrl-C) ends the script through the EXIT trap too, so the server and
# its embedded Postgres are stopped rather than left running.
trap 'exit 143' TERM
trap 'exit 130' INT

if [[ -z $base ]]; then
  data_dir=$(mktemp -d -t rtsa-schemathesis-XXXXXX)
  chmod 755 "$data_dir" # the embedded Postgres runs as its own user when we are root
  # Node 24 from node_modules, started directly (not through npx) so signals reach it.
  node_bin=$(npx --no-install node -p process.execPath)
  port=$("$node_bin" -e 'const s=require("net").createServer();s.listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')
  base="http://127.0.0.1:$port"
  echo "starting rtsa on $base (data in $data_dir)"
  "$node_bin" src/cli/main.ts start --no-generator --data-dir "$data_dir/data" --host 127.0.0.1 \
    --port "$port" --log-level warn --log-format json >"$data_dir/server.log" 2>&1 &
  server_pid=$!
  for _ in $(seq 1 120); do
    curl -sf "$base/health" >/dev/null 2>&1 && break
    kill -0 "$server_pid" 2>/dev/null || { cat "$data_dir/server.log"; echo "rtsa did not start" >&2; exit 1; }
    sleep 0.5
  done
  curl -sf "$base/health" >/dev/null || { cat "$data_dir/server.log"; echo "rtsa not healthy" >&2; exit 1; }
fi

rc=0
"$venv/bin/schemathesis" --config-file scripts/schemathesis.toml run "$base/openapi.json" \
  --url "$base" \
  --checks all \
  --max-examples "${RTSA_ST_MAX_EXAMPLES:-25}" \
  --seed "${RTSA_ST_SEED:-1}" \
  "$@" || rc=$?

if [[ -n $server_pid ]]; then
  # The server must have survived everything Schemathesis sent.
  if ! curl -sf "$base/health" >/dev/null; then
    echo "error: rtsa is not healthy after the Schemathesis run; its log:" >&2
    tail -n 50 "$data_dir/server.log" >&2
    rc=1
  fi
fi
exit "$rc"

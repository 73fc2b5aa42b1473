#!/usr/bin/env bash
# Run the legacy-client suite with both client venvs.
#   GLANCE_URL=http://127.0.0.1:19292 tests/clients/run.sh   # against a running server
#   tests/clients/run.sh                                      # each run starts glance-emu itself
# Env: GLANCE_TOKEN (default emu-token), GLANCE_EMU_BIN, CLIENTS_VENV_DIR.
# Extra arguments are passed to both pytest runs (e.g. -k members, -x).
# Exits non-zero if setup or any test run fails.
set -uo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
VENV_DIR="${CLIENTS_VENV_DIR:-$HERE}"

"$HERE/setup.sh" || { echo "tests/clients/setup.sh failed" >&2; exit 1; }

if [ -z "${GLANCE_URL:-}" ]; then
  BIN="${GLANCE_EMU_BIN:-$HERE/../../target/release/glance-emu}"
  [ -x "$BIN" ] || { echo "GLANCE_URL unset and no emulator at $BIN (cargo build --release first)" >&2; exit 1; }
fi
echo "endpoint: ${GLANCE_URL:-self-started $(basename "${GLANCE_EMU_BIN:-glance-emu}")}"

cd "$HERE"
rc=0
run() {  # <label> <venv> <test files...> -- pytest args follow in "$@" of caller
  local label="$1" venv="$2"; shift 2
  local ver
  ver="$("$venv/bin/python" -c 'import glanceclient, importlib.metadata as m; print(m.version("python-glanceclient"))')"
  echo "=== $label: python-glanceclient $ver ==="
  "$venv/bin/python" -m pytest -q "$@" > "$TMPLOG" 2>&1
  local r=$?
  # the short summary (failures/skips) and pytest's final line
  sed -n '/short test summary info/,$p' "$TMPLOG" | grep -v '^=* short test summary' || true
  if ! grep -q 'short test summary info' "$TMPLOG"; then tail -n 1 "$TMPLOG"; fi
  if [ $r -ne 0 ] && [ $r -ne 5 ]; then
    echo "--- $label failed (pytest exit $r); full output follows ---"
    cat "$TMPLOG"
    rc=1
  elif [ $r -eq 5 ]; then
    echo "--- $label ran no tests ---"; rc=1
  fi
}
TMPLOG="$(mktemp)"
trap 'rm -f "$TMPLOG"' EXIT

run "venv4" "$VENV_DIR/.venv4" test_glanceclient_api.py test_glance_cli.py test_openstacksdk.py "$@"
run "venv2" "$VENV_DIR/.venv2" test_glanceclient_api.py test_glance_cli.py "$@"
exit $rc

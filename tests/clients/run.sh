#!/usr/bin/env bash
# Run the legacy-client suite:
#   noauth         with both client venvs (glanceclient 4.x + SDK, glanceclient 2.17.1)
#   tokens-member  4.x venv, glance-emu --auth tokens:<file>, acting as a member of tenant A
#   tokens-admin   4.x venv, same server set-up, acting as an admin
#   GLANCE_URL=http://127.0.0.1:19292 tests/clients/run.sh   # noauth runs against a running server
#   tests/clients/run.sh                                      # each run starts glance-emu itself
# Env: GLANCE_TOKEN (noauth token, default emu-token), GLANCE_EMU_BIN, CLIENTS_VENV_DIR,
#      CLIENTS_AUTH_MODES (default "noauth tokens-member tokens-admin").
# The tokens modes always start glance-emu themselves (they write its tokens
# file), so with GLANCE_URL set they are skipped.
# Extra arguments are passed to every pytest run (e.g. -k members, -x).
# Exits non-zero if setup or any test run fails.
set -uo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
VENV_DIR="${CLIENTS_VENV_DIR:-$HERE}"

"$HERE/setup.sh" || { echo "tests/clients/setup.sh failed" >&2; exit 1; }

MODES="${CLIENTS_AUTH_MODES:-noauth tokens-member tokens-admin}"
for m in $MODES; do
  case "$m" in noauth|tokens-member|tokens-admin) ;;
    *) echo "CLIENTS_AUTH_MODES: unknown mode '$m' (noauth, tokens-member, tokens-admin)" >&2; exit 1;;
  esac
done
NEED_BIN=""
for m in $MODES; do
  if [ "$m" != noauth ] || [ -z "${GLANCE_URL:-}" ]; then NEED_BIN=1; fi
done
if [ -n "$NEED_BIN" ]; then
  BIN="${GLANCE_EMU_BIN:-$HERE/../../target/release/glance-emu}"
  [ -x "$BIN" ] || { echo "no emulator at $BIN (cargo build --release first, or set GLANCE_EMU_BIN)" >&2; exit 1; }
fi
echo "endpoint: ${GLANCE_URL:-self-started $(basename "${GLANCE_EMU_BIN:-glance-emu}")}"

cd "$HERE"
rc=0
run() {  # <auth mode> <venv name> <test files...> [pytest args...]
  local mode="$1" venv="$VENV_DIR/$2" label="$1 ${2#.}"; shift 2
  local ver
  ver="$("$venv/bin/python" -c 'import glanceclient, importlib.metadata as m; print(m.version("python-glanceclient"))')"
  echo "=== $label: python-glanceclient $ver ==="
  GLANCE_EMU_AUTH_MODE="$mode" "$venv/bin/python" -m pytest -q "$@" > "$TMPLOG" 2>&1
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

for m in $MODES; do
  case "$m" in
    noauth)
      run noauth .venv4 test_glanceclient_api.py test_glance_cli.py test_openstacksdk.py \
        test_faults.py "$@"
      run noauth .venv2 test_glanceclient_api.py test_glance_cli.py test_faults.py "$@"
      ;;
    tokens-*)
      if [ -n "${GLANCE_URL:-}" ]; then
        echo "=== $m: skipped (GLANCE_URL is set; tokens modes start glance-emu themselves) ==="
        continue
      fi
      run "$m" .venv4 test_glanceclient_api.py test_glance_cli.py \
        test_openstacksdk.py test_tokens_auth.py "$@"
      ;;
  esac
done
exit $rc

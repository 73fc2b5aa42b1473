#!/usr/bin/env bash
# The pytest plugin's own suite, as a user gets it: `pip install ./python` into a venv with
# python-glanceclient 4.13.0 (pinned as tests/clients/requirements-4.txt), then pytest
# python/tests against the `glance_emu` fixture. The fixture starts the binary itself
# (GLANCE_EMU_BIN, default <repo>/target/release/glance-emu).
#   python/run.sh [pytest args...]
# Env: GLANCE_EMU_BIN, PY_VENV_DIR (default python/.venv), PYTHON (default python3).
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
REPO="$(dirname "$HERE")"
VENV="${PY_VENV_DIR:-$HERE/.venv}"
REQ="$REPO/tests/clients/requirements-4.txt"
export GLANCE_EMU_BIN="${GLANCE_EMU_BIN:-$REPO/target/release/glance-emu}"
[ -x "$GLANCE_EMU_BIN" ] || { echo "python/run.sh: no emulator at $GLANCE_EMU_BIN (cargo build --release first)" >&2; exit 1; }

stamp="$VENV/.requirements.sha256"
want="$(sha256sum "$REQ" | cut -d' ' -f1)"
if ! [ -x "$VENV/bin/python" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  [ -x "$VENV/bin/python" ] || "${PYTHON:-python3}" -m venv "$VENV"
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check -r "$REQ"
  echo "$want" > "$stamp"
fi
# The package itself, reinstalled every run (a few seconds) so the tests see this checkout.
"$VENV/bin/python" -m pip install -q --disable-pip-version-check --force-reinstall --no-deps "$HERE"
"$VENV/bin/python" -m pip check >/dev/null

cd "$HERE/tests"
# Run from a folder outside the source tree so `import glance_emu` is the installed copy.
exec "$VENV/bin/python" -m pytest -q -p no:cacheprovider "$@"

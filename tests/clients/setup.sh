#!/usr/bin/env bash
# Create (idempotently) the two client virtualenvs used by the client suite:
#   $VENV_DIR/.venv4  python-glanceclient 4.13.0 + openstacksdk 4.22.0 + pytest
#   $VENV_DIR/.venv2  python-glanceclient 2.17.1 (prettytable 0.7.2, warlock 1.3.3) + pytest
# VENV_DIR defaults to this folder; override with CLIENTS_VENV_DIR.
# Packages come from PyPI through plain pip; versions are pinned exactly in
# requirements-4.txt / requirements-2.txt.  A venv is only (re)installed when
# its requirements file changed since the last successful install.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
VENV_DIR="${CLIENTS_VENV_DIR:-$HERE}"
PY="${PYTHON:-python3}"
mkdir -p "$VENV_DIR"

make_venv() {  # <venv path> <requirements file>
  local venv="$1" req="$2" stamp want
  stamp="$venv/.requirements.sha256"
  want="$(sha256sum "$req" | cut -d' ' -f1)"
  if [ -x "$venv/bin/python" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
    return 0
  fi
  [ -x "$venv/bin/python" ] || "$PY" -m venv "$venv"
  rm -f "$stamp"
  "$venv/bin/python" -m pip install -q --disable-pip-version-check -r "$req"
  "$venv/bin/python" -m pip check >/dev/null
  echo "$want" > "$stamp"
}

make_venv "$VENV_DIR/.venv4" "$HERE/requirements-4.txt"
make_venv "$VENV_DIR/.venv2" "$HERE/requirements-2.txt"

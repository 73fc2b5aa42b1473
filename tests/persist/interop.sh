#!/usr/bin/env bash
# Interop of `--persist DIR` and `snapshot` with a REAL Glance 15 (issue 14):
#  1. a state directory written by real Glance (created, uploaded, updated, shared,
#     unshared, deleted through its v1 API) is copied, the original moved away, and
#     `glance-emu --persist COPY` answers every read exactly as Glance did on it;
#  2. glance-emu writes a state directory (same writes, then kill -9), and real Glance
#     started on it answers every read exactly as glance-emu did;
#  3. `glance-emu snapshot --with-data` of the live Glance of (1), served by
#     `glance-emu --data SNAPSHOT`, answers every read exactly as Glance did;
#  4. soft-deleted member rows across a restart (tests/persist/member_rows.py): the same
#     member calls before and after a restart answer the same on Glance, glance-emu, and
#     each serving what the other wrote.
# Reads and comparison: tests/persist/interop.py. The Glance venv is built once from
# PyPI by tests/glance-real/setup.sh and cached in $GLANCE_REAL_CACHE.
# Env: GLANCE_EMU_BIN (default target/release/glance-emu), INTEROP_PORT_BASE (default 9690).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BIN=${GLANCE_EMU_BIN:-$ROOT/target/release/glance-emu}
SRC=${GLANCE_REAL_SRC:-$ROOT/tests/glance-real}
CACHE=${GLANCE_REAL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/glance-emu/glance-real}
BASE=${INTEROP_PORT_BASE:-9690}
API=$BASE REG=$((BASE + 1)) EMU=$((BASE + 2))
PY=$ROOT/tests/persist/interop.py
[ -x "$BIN" ] || { echo "interop: $BIN missing (cargo build --release)" >&2; exit 1; }
[ -d "$SRC" ] || { echo "interop: $SRC missing (the glance-real scripts)" >&2; exit 1; }

if [ ! -x "$CACHE/.venv/bin/glance-api" ]; then
  echo "interop: building the Glance 15 venv in $CACHE (once)"
  rm -rf "$CACHE" && mkdir -p "$(dirname "$CACHE")"
  cp -r "$SRC" "$CACHE" && chmod -R u+w "$CACHE" && rm -rf "$CACHE/state"
  (cd "$CACHE" && ./setup.sh >"$CACHE/setup.log" 2>&1) || { tail -20 "$CACHE/setup.log"; exit 1; }
fi

W=$(mktemp -d)
EMU_PID=
glance_dirs=()
cleanup() {
  [ -n "$EMU_PID" ] && kill -9 "$EMU_PID" 2>/dev/null || true
  for g in "${glance_dirs[@]}"; do (cd "$g" && ./stop.sh >/dev/null 2>&1) || true; done
  rm -rf "$W"
}
trap cleanup EXIT

glance_dir() {  # <dir>: the scripts, no state, the cached venv
  mkdir -p "$1"
  (cd "$SRC" && tar cf - --exclude=./state --exclude=./.venv .) | (cd "$1" && tar xf -)
  chmod -R u+w "$1"
  ln -s "$CACHE/.venv" "$1/.venv"
  glance_dirs+=("$1")
}
glance_start() {  # <dir>
  (cd "$1" && FLAVOR=trusted-auth API_PORT=$API REGISTRY_PORT=$REG PYTHONHASHSEED=0 ./start.sh >/dev/null)
}
glance_stop() { (cd "$1" && ./stop.sh >/dev/null); }
emu_start() {  # <state dir> | --data <fixture dir>
  local out=$W/emu.out state=(--persist "$1") data=$W/empty
  [ "$1" = --data ] && state=() data=$2
  : >"$out"
  "$BIN" --listen 127.0.0.1:$EMU --data "$data" --auth trusted-headers "${state[@]}" \
    >"$out" 2>"$W/emu.err" &
  EMU_PID=$!
  for _ in $(seq 100); do grep -q listening "$out" && return 0; sleep 0.1; done
  echo "interop: glance-emu did not start:" >&2; cat "$W/emu.err" >&2; exit 1
}
emu_kill9() { kill -9 "$EMU_PID"; wait "$EMU_PID" 2>/dev/null || true; EMU_PID=; }
mkdir -p "$W/empty"
rc=0

echo "== 1. real Glance writes, glance-emu --persist serves a copy"
glance_dir "$W/g1"
glance_start "$W/g1"
python3 "$PY" populate "http://127.0.0.1:$API" "$W/ids1"
python3 "$PY" capture "http://127.0.0.1:$API" "$W/ids1" "$W/glance1.json"
# For 3.: the same live server, read over the wire as an admin.
"$BIN" snapshot --from "http://127.0.0.1:$API" --out "$W/snap" --with-data --page-size 2 \
  --header 'X-Identity-Status: Confirmed' --header 'X-Tenant-Id: tenant-a' \
  --header 'X-User-Id: u1' --header 'X-Roles: admin' 2>"$W/snap.err" \
  || { echo "interop: snapshot failed:" >&2; cat "$W/snap.err" >&2; exit 1; }
glance_stop "$W/g1"
cp -a "$W/g1/state" "$W/copy1"
mv "$W/g1/state" "$W/g1/state.moved-away"   # the copy must stand on its own
emu_start "$W/copy1"
python3 "$PY" capture "http://127.0.0.1:$EMU" "$W/ids1" "$W/emu1.json"
emu_kill9
python3 "$PY" compare "$W/glance1.json" "$W/emu1.json" >"$W/cmp1" || rc=1
grep -v '^PASS' "$W/cmp1" | head -60

echo "== 2. glance-emu writes (then kill -9), real Glance serves the directory"
glance_dir "$W/g2"
(cd "$W/g2" && ./render.sh)
emu_start "$W/g2/state"
python3 "$PY" populate "http://127.0.0.1:$EMU" "$W/ids2"
python3 "$PY" capture "http://127.0.0.1:$EMU" "$W/ids2" "$W/emu2.json"
emu_kill9
glance_start "$W/g2"
python3 "$PY" capture "http://127.0.0.1:$API" "$W/ids2" "$W/glance2.json"
glance_stop "$W/g2"
python3 "$PY" compare "$W/emu2.json" "$W/glance2.json" >"$W/cmp2" || rc=1
grep -v '^PASS' "$W/cmp2" | head -60

echo "== 3. snapshot of the live real Glance (1), served by glance-emu --data"
tail -n 2 "$W/snap.err"
emu_start --data "$W/snap"
python3 "$PY" capture "http://127.0.0.1:$EMU" "$W/ids1" "$W/snap1.json"
emu_kill9
python3 "$PY" compare "$W/glance1.json" "$W/snap1.json" >"$W/cmp3" || rc=1
grep -v '^PASS' "$W/cmp3" | head -60

echo "== 4. soft-deleted member rows across a restart (tests/persist/member_rows.py)"
# The same membership sequence, its first half before a stop and its second half after a
# start on the same directory: Glance then Glance (the reference), glance-emu then
# glance-emu, Glance then glance-emu (on a copy), glance-emu then Glance.
MR=$ROOT/tests/persist/member_rows.py
glance_dir "$W/m_gg"
glance_start "$W/m_gg"; python3 "$MR" before $API >"$W/m_gg.before"; glance_stop "$W/m_gg"
glance_start "$W/m_gg"; python3 "$MR" after $API >"$W/m_gg.after"; glance_stop "$W/m_gg"
mkdir -p "$W/m_ee"
emu_start "$W/m_ee"; python3 "$MR" before $EMU >"$W/m_ee.before"; emu_kill9
emu_start "$W/m_ee"; python3 "$MR" after $EMU >"$W/m_ee.after"; emu_kill9
glance_dir "$W/m_ge"
glance_start "$W/m_ge"; python3 "$MR" before $API >"$W/m_ge.before"; glance_stop "$W/m_ge"
cp -a "$W/m_ge/state" "$W/m_ge.copy"
emu_start "$W/m_ge.copy"; python3 "$MR" after $EMU >"$W/m_ge.after"; emu_kill9
glance_dir "$W/m_eg"
(cd "$W/m_eg" && ./render.sh)
emu_start "$W/m_eg/state"; python3 "$MR" before $EMU >"$W/m_eg.before"; emu_kill9
glance_start "$W/m_eg"; python3 "$MR" after $API >"$W/m_eg.after"; glance_stop "$W/m_eg"
m_pass=0 m_fail=0
for run in ee ge eg; do
  for half in before after; do
    if diff -u "$W/m_gg.$half" "$W/m_$run.$half"; then
      m_pass=$((m_pass + $(wc -l <"$W/m_gg.$half")))
    else
      m_fail=$((m_fail + 1)); rc=1
    fi
  done
done
echo "$m_pass answers equal to Glance's, $m_fail runs differ"

[ $rc = 0 ] && echo "interop: all four equal" || echo "interop: FAILED"
exit $rc

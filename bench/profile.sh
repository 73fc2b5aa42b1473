#!/usr/bin/env bash
# Where does glance-emu's HEAD time go? The measurements behind docs/performance.md.
#
#   bench/profile.sh [--records N] [--secs S]     (defaults: 1000000 records, 5 s per step)
#
# 1. perf record (call graphs) of glance-emu under the bench load: kernel/user split and top
#    symbols, self and inclusive.
# 2. strace -c -f of glance-emu and of nginx over one bounded wrk run each: syscalls per
#    request (strace slows the server; the counts per request stay meaningful).
# 3. valgrind --tool=dhat: heap allocations per HEAD (200 and 404), from two runs of 200 and
#    2,200 requests over one keep-alive connection (bench/head_client.py), 10,000 records;
#    the difference divided by 2,000 removes start-up allocations.
#
# Uses the binary and fixtures of bench/run.sh (CARGO_TARGET_DIR, default ./target; run
# bench/run.sh once first). Installs linux-perf, strace and valgrind if missing. Only
# 127.0.0.1 is contacted; only processes started here are stopped, by PID.
set -euo pipefail
RECORDS=1000000
SECS=5
while [ $# -gt 0 ]; do
  case "$1" in
    --records) RECORDS="$2"; shift 2 ;;
    --secs) SECS="$2"; shift 2 ;;
    -h|--help) sed -n '2,19p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
done
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
BENCH="$ROOT/bench"
TARGET="${CARGO_TARGET_DIR:-$ROOT/target}"
case "$TARGET" in /*) ;; *) TARGET="$ROOT/$TARGET" ;; esac
BIN="$TARGET/release/glance-emu"
DATA="$TARGET/bench-data"
[ -x "$BIN" ] && [ -s "$DATA/images-$RECORDS.json" ] && [ -s "$DATA/images-10000.json" ] \
  || { echo "run bench/run.sh first (needs $BIN and $DATA/images-{10000,$RECORDS}.json)" >&2; exit 1; }
pkgs=()
command -v perf >/dev/null || pkgs+=(linux-perf)
command -v strace >/dev/null || pkgs+=(strace)
command -v valgrind >/dev/null || pkgs+=(valgrind)
command -v wrk >/dev/null || pkgs+=(wrk)
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || pkgs+=(nginx)
if [ ${#pkgs[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -qq "${pkgs[@]}" >/dev/null 2>&1 || { apt-get update -qq >/dev/null; apt-get install -y -qq "${pkgs[@]}" >/dev/null; }
fi
NGINX="$(command -v nginx || echo /usr/sbin/nginx)"
LOAD_CPU=1; [ "$(nproc)" -ge 2 ] || LOAD_CPU=0

TMP="$(mktemp -d -t glance-profile.XXXXXX)"
STARTED=()
cleanup() {
  local p
  for p in "${STARTED[@]+"${STARTED[@]}"}"; do kill -0 "$p" 2>/dev/null && kill -KILL "$p" 2>/dev/null || true; done
  rm -rf "$TMP"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
stop() { kill -TERM "$1" 2>/dev/null || true; for _ in $(seq 1 50); do kill -0 "$1" 2>/dev/null || break; sleep 0.1; done; kill -KILL "$1" 2>/dev/null || true; wait "$1" 2>/dev/null || true; }
wait_up() {  # PORT PID
  for _ in $(seq 1 1200); do
    curl -s -o /dev/null -I --max-time 1 "http://127.0.0.1:$1/v1/images/x" && return 0
    kill -0 "$2" 2>/dev/null || return 1
    sleep 0.1
  done
  return 1
}
load() {  # PORT SECS IDS -> prints the request count
  BENCH_IDS="$3" timeout $(($2 + 30)) taskset -c "$LOAD_CPU" wrk -t1 -c64 -d"$2s" --timeout 5s \
    -s "$BENCH/head.lua" "http://127.0.0.1:$1/" | sed -n 's/^BENCH requests=\([0-9]*\).*/\1/p'
}
start_emu() {  # RECORDS
  PORT="$(free_port)"
  taskset -c 0 "$BIN" --listen "127.0.0.1:$PORT" --data "$DATA/images-$1.json" >/dev/null 2>"$TMP/emu.err" &
  PID=$!; STARTED+=("$PID")
  wait_up "$PORT" "$PID" || { cat "$TMP/emu.err" >&2; exit 1; }
}
IDS="$DATA/ids-$RECORDS.txt"

echo "# glance-emu profile ($RECORDS records, $(date -u '+%Y-%m-%d %H:%M UTC'))"
echo
# ---- 1. perf ------------------------------------------------------------------------------
start_emu "$RECORDS"
load "$PORT" 2 "$IDS" >/dev/null
perf record -q -F 499 --call-graph dwarf,16384 -p "$PID" -o "$TMP/perf.data" >/dev/null 2>&1 &
PERF=$!; STARTED+=("$PERF")
sleep 0.3
REQ="$(load "$PORT" "$SECS" "$IDS")"
kill -INT "$PERF"; wait "$PERF" 2>/dev/null || true
echo "## perf: where glance-emu's CPU goes ($REQ requests in ${SECS} s)"
echo
echo '```'
perf report -i "$TMP/perf.data" --no-children --sort dso --stdio -g none 2>/dev/null | grep -v '^#' | grep -v '^$' | head -6 || true
echo
echo "-- top symbols, self --"
perf report -i "$TMP/perf.data" --no-children --sort dso,symbol --stdio -g none 2>/dev/null \
  | grep -v '^#' | grep -v '^$' | head -25 | cut -c1-150 || true
echo
echo "-- inclusive (children), glance-emu and hyper frames --"
perf report -i "$TMP/perf.data" --children --sort symbol --stdio -g none 2>/dev/null \
  | grep -v '^#' | grep -v '^$' \
  | grep -E 'glance_emu::(v1|headers|store|service)|hyper::proto::h1::(role::Server::encode|io::Buffered<T,B>::parse|io::Buffered<T,B>::poll_flush|conn::Conn<I,B,T>::poll_read_head)|\[k\] (do_writev|__sys_recvfrom|do_epoll_wait)|malloc$|free$' \
  | head -25 | cut -c1-150 || true
echo '```'
echo

# ---- 2. strace ----------------------------------------------------------------------------
strace_run() {  # LABEL PORT PID IDS
  strace -c -f -p "$3" -o "$TMP/strace.txt" 2>/dev/null &
  local st=$!
  sleep 0.5
  local req
  req="$(load "$2" "$SECS" "$4")"
  kill -INT "$st"; wait "$st" 2>/dev/null || true
  echo "## strace -c -f: $1 ($req requests)"
  echo
  echo "| syscall | calls | per request |"
  echo "|---|---:|---:|"
  awk -v r="$req" '$NF ~ /^[a-z_0-9]+$/ && $1 ~ /^[0-9.]+$/ {
      calls = ($5 ~ /^[0-9]+$/ && NF == 6) ? $4 : $4; name = $NF
      if (name != "total") printf "| %s | %d | %.3f |\n", name, calls, calls / r }' "$TMP/strace.txt" | head -12
  awk -v r="$req" '$NF == "total" {printf "| **total** | %d | **%.2f** |\n", $4, $4 / r}' "$TMP/strace.txt"
  echo
}
strace_run "glance-emu" "$PORT" "$PID" "$IDS"
stop "$PID"
NPORT="$(free_port)"
mkdir -p "$TMP/nginx"
sed -e "s#@DIR@#$TMP/nginx#g" -e "s#@PORT@#$NPORT#g" "$BENCH/nginx.conf.in" > "$TMP/nginx/nginx.conf"
taskset -c 0 "$NGINX" -p "$TMP/nginx" -c "$TMP/nginx/nginx.conf" -e "$TMP/nginx/error.log" &
NPID=$!; STARTED+=("$NPID")
wait_up "$NPORT" "$NPID"
load "$NPORT" 1 "$IDS" >/dev/null
strace_run "nginx" "$NPORT" "$NPID" "$IDS"
stop "$NPID"

# ---- 3. dhat ------------------------------------------------------------------------------
echo "## valgrind dhat: heap allocations per HEAD (10,000 records)"
echo
echo "| response | allocations per request | bytes allocated per request |"
echo "|---|---:|---:|"
dhat_total() {  # COUNT [--unknown] -> "blocks bytes"
  local port; port="$(free_port)"
  valgrind --tool=dhat --dhat-out-file="$TMP/dhat.json" "$BIN" --listen "127.0.0.1:$port" \
    --data "$DATA/images-10000.json" >/dev/null 2>"$TMP/dhat.err" &
  local p=$!; STARTED+=("$p")
  wait_up "$port" "$p" || { cat "$TMP/dhat.err" >&2; exit 1; }
  python3 "$BENCH/head_client.py" "$port" "$DATA/ids-10000.txt" "$@" >/dev/null
  kill -INT "$p"; wait "$p" 2>/dev/null || true
  sed -n 's/.*Total: *\([0-9,]*\) bytes in \([0-9,]*\) blocks.*/\2 \1/p' "$TMP/dhat.err" | tr -d ,
}
for kind in 200 404; do
  extra=(); [ "$kind" = 404 ] && extra=(--unknown)
  a=($(dhat_total 200 "${extra[@]+"${extra[@]}"}")); b=($(dhat_total 2200 "${extra[@]+"${extra[@]}"}"))
  # wait_up's probe request is in both runs, so it cancels out
  echo "| $kind | $(awk -v x="${a[0]}" -v y="${b[0]}" 'BEGIN{printf "%.1f", (y-x)/2000}') | $(awk -v x="${a[1]}" -v y="${b[1]}" 'BEGIN{printf "%.0f", (y-x)/2000}') |"
done

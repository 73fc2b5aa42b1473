#!/usr/bin/env bash
# What the access log costs on the HEAD benchmark: the same wrk load as bench/run.sh (one
# thread, 64 keep-alive connections, a random one of 10,000 ids per request, bench/head.lua)
# against the release binary in three modes, interleaved for ROUNDS rounds:
#   on    the default: one line per request, stderr to a file on disk
#   warn  RUST_LOG=warn (the access log is off, warnings still on)
#   off   RUST_LOG=off
# Prints server CPU µs per request (utime+stime of the server over the measured run /
# requests) and requests/s per round, and the median per mode.
#   bench/access_log.sh            # ROUNDS=3 SECS=5: about 1 minute
# Env: GLANCE_EMU_BIN, ROUNDS, SECS, PORT (default 9795). Server pinned to CPU 0, wrk to
# CPU 1. Only 127.0.0.1 is contacted; only the servers it started are stopped, by PID.
set -euo pipefail
BENCH="$(cd "$(dirname "$0")" && pwd)"
REPO="$(dirname "$BENCH")"
BIN="${GLANCE_EMU_BIN:-$REPO/target/release/glance-emu}"
ROUNDS="${ROUNDS:-3}"; SECS="${SECS:-5}"; PORT="${PORT:-9795}"
[ -x "$BIN" ] || { echo "no binary at $BIN (cargo build --release)" >&2; exit 1; }
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
DATA="${CARGO_TARGET_DIR:-$REPO/target}/bench-data"
mkdir -p "$DATA"
if [ ! -s "$DATA/ids-10000.txt" ] || [ ! -s "$DATA/images-10000.json" ]; then
  python3 "$BENCH/gen_fixtures.py" 10000 "$DATA/images-10000.json" --ids "$DATA/ids-10000.txt"
fi
TMP="$(mktemp -d)"; PID=""
trap '[ -n "$PID" ] && kill "$PID" 2>/dev/null; rm -rf "$TMP"' EXIT
TCK="$(getconf CLK_TCK)"
ticks() { sed 's/^.*) //' "/proc/$1/stat" | awk '{print $12 + $13}'; }

declare -A RESULTS
for round in $(seq "$ROUNDS"); do
  for mode in on warn off; do
    case "$mode" in on) rl="";; warn) rl="warn";; off) rl="off";; esac
    env ${rl:+RUST_LOG=$rl} taskset -c 0 "$BIN" --listen "127.0.0.1:$PORT" \
      --data "$DATA/images-10000.json" >"$TMP/out" 2>"$TMP/log-$mode" &
    PID=$!
    for _ in $(seq 100); do grep -q listening "$TMP/out" 2>/dev/null && break; sleep 0.05; done
    BENCH_IDS="$DATA/ids-10000.txt" taskset -c 1 wrk -t1 -c64 -d1s -s "$BENCH/head.lua" \
      "http://127.0.0.1:$PORT/" >/dev/null 2>&1
    t0="$(ticks "$PID")"
    out="$(BENCH_IDS="$DATA/ids-10000.txt" taskset -c 1 wrk -t1 -c64 -d"${SECS}s" \
      -s "$BENCH/head.lua" "http://127.0.0.1:$PORT/" 2>&1)"
    t1="$(ticks "$PID")"
    kill "$PID"; wait "$PID" 2>/dev/null || true; PID=""
    req="$(echo "$out" | grep -o 'requests=[0-9]*' | head -n1 | cut -d= -f2)"
    dur="$(echo "$out" | grep -o 'duration_us=[0-9]*' | head -n1 | cut -d= -f2)"
    us="$(awk -v t=$((t1 - t0)) -v hz="$TCK" -v r="$req" 'BEGIN {printf "%.2f", t / hz * 1e6 / r}')"
    rps="$(awk -v r="$req" -v d="$dur" 'BEGIN {printf "%.0f", r / (d / 1e6)}')"
    lines="$(grep -c 'glance_emu::access' "$TMP/log-$mode" || true)"
    printf 'round %d  %-5s %8s req/s  %6s µs/req  (%s log lines)\n' "$round" "$mode" "$rps" "$us" "$lines"
    RESULTS[$mode]+="$us "
  done
done
echo "median server CPU µs/req over $ROUNDS rounds of ${SECS}s:"
for mode in on warn off; do
  m="$(echo ${RESULTS[$mode]} | tr ' ' '\n' | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')"
  printf '  %-5s %s\n' "$mode" "$m"
done

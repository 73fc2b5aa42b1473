#!/usr/bin/env bash
# Server CPU per HEAD of several glance-emu binaries (or wrappers), interleaved: for each
# round and binary, the server pinned to CPU 0 is started on FIXTURE, waited for (first
# answer, then `every list order ready`), warmed up for 1 s, then loaded for SECS with the
# bench's wrk load (one thread, 64 keep-alive connections on CPU 1, a random id per request,
# bench/head.lua). Prints `ROUND BINARY cpu_us_per_req=... req=... p99=...` per run.
#
#   bench/head_cpu_cmp.sh ROUNDS SECS FIXTURE IDFILE "EXTRA FLAGS" BIN...
#
# e.g. bench/head_cpu_cmp.sh 3 4 target/bench-data/images-10000.json \
#        target/bench-data/ids-10000.txt "--no-fast-head" OLD NEW
# A BIN may be a script that sets an environment and execs a binary. Needs wrk and curl
# (bench/run.sh installs them). Only 127.0.0.1 is contacted; each server is stopped by PID.
set -euo pipefail
[ $# -ge 6 ] || { sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; exit 2; }
ROUNDS=$1; SECS=$2; FIX=$3; IDS=$4; FLAGS=$5; shift 5
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
TCK=$(getconf CLK_TCK)
ID=$(head -n1 "$IDS")
LOG=$(mktemp)
trap 'rm -f "$LOG"' EXIT
for r in $(seq "$ROUNDS"); do
  for b in "$@"; do
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    # shellcheck disable=SC2086
    taskset -c 0 "$b" --listen "127.0.0.1:$port" --data "$FIX" $FLAGS >"$LOG" 2>&1 &
    p=$!
    until taskset -c 1 curl -s -o /dev/null -I "http://127.0.0.1:$port/v1/images/$ID"; do sleep 0.05; done
    for _ in $(seq 600); do grep -q "every list order ready" "$LOG" && break; sleep 0.1; done
    BENCH_IDS="$IDS" taskset -c 1 wrk -t1 -c64 -d1s -s "$ROOT/bench/head.lua" "http://127.0.0.1:$port/" >/dev/null 2>&1
    c0=$(awk '{print $14+$15}' "/proc/$p/stat")
    out=$(BENCH_IDS="$IDS" taskset -c 1 wrk -t1 -c64 -d"${SECS}s" --latency -s "$ROOT/bench/head.lua" "http://127.0.0.1:$port/" 2>&1)
    c1=$(awk '{print $14+$15}' "/proc/$p/stat")
    req=$(echo "$out" | awk '/requests in/ {print $1}')
    p99=$(echo "$out" | awk '$1=="99%" {print $2}')
    echo "$r $b cpu_us_per_req=$(awk -v a="$c0" -v b="$c1" -v t="$TCK" -v n="$req" 'BEGIN {printf "%.2f", (b-a)/t*1e6/n}') req=$req p99=$p99"
    kill "$p"; wait "$p" 2>/dev/null || true
  done
done

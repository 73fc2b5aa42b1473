#!/usr/bin/env bash
# Start-up to the first answer of several glance-emu binaries, interleaved, pinned to one CPU
# and not pinned: wall ms (spawn to the first HEAD answered), CPU ms of the server (user+sys
# from /proc/PID/stat at that moment), RSS and VmHWM in kB; then the median of each column.
#
#   bench/startup_cmp.sh RUNS FIXTURE IDFILE BIN...
#
# FIXTURE/IDFILE: e.g. target/bench-data/images-1000000.json and ids-1000000.txt (made by
# bench/run.sh). Only 127.0.0.1 is contacted; each server is stopped by its PID.
set -euo pipefail
[ $# -ge 4 ] || { sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'; exit 2; }
RUNS=$1; FIX=$2; IDS=$3; shift 3
ID=$(head -n1 "$IDS")
TCK=$(getconf CLK_TCK)
once() { # once PIN BIN
  local port p t0 t1
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  t0=$(date +%s%N)
  if [ "$1" = pinned ]; then
    taskset -c 0 "$2" --listen 127.0.0.1:"$port" --data "$FIX" >/dev/null 2>&1 &
  else
    "$2" --listen 127.0.0.1:"$port" --data "$FIX" >/dev/null 2>&1 &
  fi
  p=$!
  # Pinned runs: the probe runs on the other CPU, so its curls are not counted in start-up.
  local probe=()
  [ "$1" = pinned ] && [ "$(nproc)" -gt 1 ] && probe=(taskset -c 1)
  until "${probe[@]}" curl -s -o /dev/null -I "http://127.0.0.1:$port/v1/images/$ID" 2>/dev/null; do sleep 0.005; done
  t1=$(date +%s%N)
  echo "$1 $2 $(( (t1 - t0) / 1000000 )) $(awk -v t="$TCK" '{print int(($14+$15)*1000/t)}' /proc/$p/stat)" \
    "$(awk '/^VmRSS/{print $2}' /proc/$p/status) $(awk '/^VmHWM/{print $2}' /proc/$p/status)"
  kill "$p"; wait "$p" 2>/dev/null || true
}
out=$(for _ in $(seq "$RUNS"); do for b in "$@"; do once pinned "$b"; once unpinned "$b"; done; done)
echo "pin binary wall_ms cpu_ms rss_kb hwm_kb"
echo "$out"
echo "medians:"
for pin in pinned unpinned; do
  for b in "$@"; do
    med() { echo "$out" | awk -v p="$pin" -v b="$b" -v c="$1" '$1==p && $2==b {print $c}' | sort -n |
      awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}'; }
    echo "$pin $b $(med 3) $(med 4) $(med 5) $(med 6)"
  done
done

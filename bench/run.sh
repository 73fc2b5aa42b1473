#!/usr/bin/env bash
# The glance-emu HEAD benchmark (issue 7): glance-emu against nginx serving the same static
# Glance headers, in one run, on this machine. Prints markdown tables.
#
#   bench/run.sh [--duration SECS] [--quick] [--with-real] [--no-lists] [--out FILE]
#
#   --duration SECS  measured seconds per load run (default 10; each run has a 2 s warm-up)
#   --quick          3 s runs, 1 s warm-ups (a smoke test of the script itself)
#   --with-real      also measure the real Glance 15 v1 API from tests/glance-real
#                    (copied to a temp dir; its setup takes about a minute)
#   --no-lists       skip the list pages of issue 17 (bench/list_bench.py: pages at 10,000
#                    and 1,000,000 images side by side, every marker page through 1,000,000,
#                    memory with every list order built, the distinct-owners data set)
#   --out FILE       also write the tables to FILE
#
# Environment: CARGO_TARGET_DIR (default ./target) is where the release binary is built and
# where generated fixtures are cached (bench-data/); CONNS (default 64).
#
# What it does: installs wrk/nginx if missing (apt-get), `cargo build --release --locked`,
# generates 10,000 and 1,000,000 typical records (bench/gen_fixtures.py, cached), then for
# each server: the server pinned to CPU 0, wrk pinned to CPU 1 (one thread, CONNS keep-alive
# connections, a random id per request via bench/head.lua), for a bounded duration.
# Server CPU per request = (utime+stime of the server PID, from /proc/PID/stat, over the
# measured run) / requests. Only 127.0.0.1 is contacted; only processes this script started
# are stopped, by PID.
set -euo pipefail

DURATION=10
ROUNDS=5        # interleaved nginx / glance-emu rounds (1M records, 200s)
ROUND_SECS=4
WARMUP=2
WITH_REAL=0
LISTS=1
LIST_REPS=20
FOLLOW_MAX=""   # pages followed through 1M (empty: all of them)
OUT=""
CONNS="${CONNS:-64}"
while [ $# -gt 0 ]; do
  case "$1" in
    --duration) DURATION="$2"; shift 2 ;;
    --quick) DURATION=3; WARMUP=1; ROUNDS=2; ROUND_SECS=2; LIST_REPS=5; FOLLOW_MAX=500; shift ;;
    --no-lists) LISTS=0; shift ;;
    --with-real) WITH_REAL=1; shift ;;
    --out) OUT="$2"; shift 2 ;;
    -h|--help) sed -n '2,26p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "unknown argument: $1 (see --help)" >&2; exit 2 ;;
  esac
done

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
BENCH="$ROOT/bench"
cd "$ROOT"
TARGET="${CARGO_TARGET_DIR:-$ROOT/target}"
case "$TARGET" in /*) ;; *) TARGET="$ROOT/$TARGET" ;; esac
BIN="$TARGET/release/glance-emu"
DATA="$TARGET/bench-data"

log() { echo "[bench] $*" >&2; }
die() { echo "[bench] error: $*" >&2; exit 1; }

# ---------------------------------------------------------------------------------------
# Tools
# ---------------------------------------------------------------------------------------
need_pkgs=()
command -v wrk >/dev/null || need_pkgs+=(wrk)
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || need_pkgs+=(nginx)
command -v curl >/dev/null || need_pkgs+=(curl)
command -v taskset >/dev/null || need_pkgs+=(util-linux)
command -v python3 >/dev/null || need_pkgs+=(python3)
if [ ${#need_pkgs[@]} -gt 0 ]; then
  log "installing ${need_pkgs[*]}"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  export DEBIAN_FRONTEND=noninteractive
  if ! $SUDO apt-get install -y -qq "${need_pkgs[@]}" >/dev/null 2>&1; then
    $SUDO apt-get update -qq >/dev/null
    $SUDO apt-get install -y -qq "${need_pkgs[@]}" >/dev/null
  fi
fi
NGINX="$(command -v nginx || echo /usr/sbin/nginx)"
command -v cargo >/dev/null || die "cargo not found (install Rust first)"

NCPU="$(nproc)"
if [ "$NCPU" -ge 2 ]; then
  SERVER_CPU=0; LOAD_CPU=1
else
  log "warning: only one CPU; server and load generator share it"
  SERVER_CPU=0; LOAD_CPU=0
fi
TCK="$(getconf CLK_TCK)"

# A busy machine makes every figure noisy: say so before starting.
idle_check() {
  local a b
  a="$(awk '/^cpu /{print $2+$3+$4+$7+$8+$9, $2+$3+$4+$5+$6+$7+$8+$9}' /proc/stat)"
  sleep 1
  b="$(awk '/^cpu /{print $2+$3+$4+$7+$8+$9, $2+$3+$4+$5+$6+$7+$8+$9}' /proc/stat)"
  awk -v a="$a" -v b="$b" 'BEGIN {split(a, x, " "); split(b, y, " ");
    d = y[2] - x[2]; if (d > 0) printf "%.0f", (y[1] - x[1]) / d * 100; else print 0}'
}
BUSY="$(idle_check)"
[ "$BUSY" -le 10 ] || log "warning: the machine is already ${BUSY}% busy; figures will be noisy"

# ---------------------------------------------------------------------------------------
# Build and fixtures
# ---------------------------------------------------------------------------------------
log "cargo build --release --locked (target: $TARGET)"
cargo build --release --locked --bin glance-emu >&2
[ -x "$BIN" ] || die "no binary at $BIN"

mkdir -p "$DATA"
GEN_TAG="$(cksum < "$BENCH/gen_fixtures.py" | cut -d' ' -f1)"
fixture() {  # N -> generates $DATA/images-N.json and $DATA/ids-N.txt once per generator version
  local n="$1" f="$DATA/images-$1.json" stamp="$DATA/images-$1.stamp"
  if [ ! -s "$f" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$GEN_TAG" ]; then
    log "generating $n records"
    python3 "$BENCH/gen_fixtures.py" "$n" "$f.tmp" --ids "$DATA/ids-$n.txt"
    mv "$f.tmp" "$f"
    echo "$GEN_TAG" > "$stamp"
  fi
}
fixture 0
fixture 10000
fixture 1000000
owners_fixture() {  # N: distinct owners, no properties, 0.1 % public, one tenant's few records
  local n="$1" f="$DATA/images-owners-$1.json" stamp="$DATA/images-owners-$1.stamp"
  if [ ! -s "$f" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$GEN_TAG" ]; then
    log "generating $n records with distinct owners, no properties"
    python3 "$BENCH/gen_fixtures.py" "$n" "$f.tmp" --ids "$DATA/ids-owners-$n.txt" --distinct-owners
    mv "$f.tmp" "$f"
    echo "$GEN_TAG" > "$stamp"
  fi
}
if [ "$LISTS" = 1 ]; then
  owners_fixture 10000
  owners_fixture 1000000
fi

# ---------------------------------------------------------------------------------------
# Process helpers (everything started here is recorded and stopped by PID)
# ---------------------------------------------------------------------------------------
TMP="$(mktemp -d -t glance-bench.XXXXXX)"
STARTED=()
REAL_DIR=""
cleanup() {
  local p
  for p in "${STARTED[@]+"${STARTED[@]}"}"; do
    kill -0 "$p" 2>/dev/null && kill -TERM "$p" 2>/dev/null || true
  done
  for p in "${STARTED[@]+"${STARTED[@]}"}"; do
    for _ in $(seq 1 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$p" 2>/dev/null && kill -KILL "$p" 2>/dev/null || true
  done
  if [ -n "$REAL_DIR" ] && [ -x "$REAL_DIR/stop.sh" ]; then "$REAL_DIR/stop.sh" >/dev/null 2>&1 || true; fi
  rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

stop_pid() {  # PID: SIGTERM, then SIGKILL after 5 s
  local p="$1"
  kill -TERM "$p" 2>/dev/null || return 0
  for _ in $(seq 1 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
  kill -0 "$p" 2>/dev/null && kill -KILL "$p" 2>/dev/null
  wait "$p" 2>/dev/null || true
  local keep=() q
  for q in "${STARTED[@]+"${STARTED[@]}"}"; do [ "$q" = "$p" ] || keep+=("$q"); done
  STARTED=("${keep[@]+"${keep[@]}"}")
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
now_ns() { date +%s%N; }
# utime and stime (clock ticks) of a whole process: fields 14 and 15 of /proc/PID/stat, read
# after the ")" that ends the command name (which may contain spaces).
cpu_ticks() { sed 's/^.*) //' "/proc/$1/stat" | awk '{print $12, $13}'; }
cpu_ticks_tree() {  # PIDs... -> "utime stime" summed over the processes and their children
  local u=0 s=0 p c t
  for p in "$@"; do
    for c in "$p" $(cat "/proc/$p/task/"*/children 2>/dev/null); do
      if [ -r "/proc/$c/stat" ]; then
        t=($(cpu_ticks "$c")); u=$((u + t[0])); s=$((s + t[1]))
      fi
    done
  done
  echo "$u $s"
}
# busy ticks of one CPU (user+nice+system+irq+softirq+steal) from /proc/stat
cpu_busy() { awk -v c="cpu$1" '$1==c {print $2+$3+$4+$7+$8+$9}' /proc/stat; }
status_kb() { awk -v k="$2:" '$1==k {print $2}' "/proc/$1/status"; }

wait_answer() {  # URL PID TIMEOUT_S: until any HTTP answer to HEAD URL; prints elapsed ns since $T0
  local url="$1" pid="$2" limit=$(( $3 * 1000000000 )) code
  while :; do
    # The probe runs on the load CPU: a curl every 5 ms on the server's CPU would be counted
    # in its start-up.
    code="$(taskset -c "$LOAD_CPU" curl -s -o /dev/null -I -w '%{http_code}' --max-time 2 "$url" || true)"
    if [ "$code" != "000" ] && [ -n "$code" ]; then return 0; fi
    kill -0 "$pid" 2>/dev/null || return 1
    [ $(( $(now_ns) - T0 )) -lt "$limit" ] || return 1
    sleep 0.005
  done
}

# run_wrk PORT IDS UNKNOWN_PCT SECS PIDS... -> sets W_REQ W_P50 W_P99 W_ERR W_STATUS W_RPS
# W_CPU_US (server user+sys µs per request) W_USR_US W_SYS_US W_OTHER (% of the server CPU
# busy with anything but the server: other processes, interrupts; noise indicator)
run_wrk() {
  local port="$1" ids="$2" unknown="$3" secs="$4"; shift 4
  local c0 c1 b0 b1 out t0 t1
  c0=($(cpu_ticks_tree "$@")); b0="$(cpu_busy "$SERVER_CPU")"; t0="$(now_ns)"
  out="$(BENCH_IDS="$ids" BENCH_UNKNOWN="$unknown" timeout $((secs + 30)) \
        taskset -c "$LOAD_CPU" wrk -t1 -c"$CONNS" -d"${secs}s" --timeout 5s \
        -s "$BENCH/head.lua" "http://127.0.0.1:$port/" 2>&1)" || { echo "$out" >&2; die "wrk failed"; }
  c1=($(cpu_ticks_tree "$@")); b1="$(cpu_busy "$SERVER_CPU")"; t1="$(now_ns)"
  local line
  line="$(echo "$out" | grep '^BENCH ' || true)"
  [ -n "$line" ] || { echo "$out" >&2; die "no result from wrk"; }
  kv() { echo "$line" | tr ' ' '\n' | awk -F= -v k="$1" '$1==k {print $2}'; }
  W_REQ="$(kv requests)"
  W_P50="$(kv p50_us)"; W_P99="$(kv p99_us)"
  W_ERR=$(( $(kv connect) + $(kv read) + $(kv write) + $(kv timeout) ))
  W_STATUS="$(kv status)"
  W_RPS="$(awk -v r="$W_REQ" -v d="$(kv duration_us)" 'BEGIN {printf "%.0f", r / (d / 1e6)}')"
  local du=$((c1[0] - c0[0])) ds=$((c1[1] - c0[1]))
  W_CPU_US="$(awk -v t=$((du + ds)) -v hz="$TCK" -v r="$W_REQ" 'BEGIN {printf "%.2f", r ? t / hz * 1e6 / r : 0}')"
  W_USR_US="$(awk -v t=$du -v hz="$TCK" -v r="$W_REQ" 'BEGIN {printf "%.1f", r ? t / hz * 1e6 / r : 0}')"
  W_SYS_US="$(awk -v t=$ds -v hz="$TCK" -v r="$W_REQ" 'BEGIN {printf "%.1f", r ? t / hz * 1e6 / r : 0}')"
  W_OTHER="$(awk -v o=$((b1 - b0 - du - ds)) -v hz="$TCK" -v ns=$((t1 - t0)) 'BEGIN {v = o / hz / (ns / 1e9) * 100; if (v < 0) v = 0; printf "%.0f", v}')"
}

ROWS=()        # table rows with a @RATIO@ placeholder, filled in at the end
NGINX_CPUS=()  # nginx's CPU µs/req, measured first and again last (the anchor is their mean)
# measure LABEL RECORDS IDS UNKNOWN PORT PIDS...: warm-up, measured run, one table row
measure() {
  local label="$1" records="$2" ids="$3" unknown="$4" port="$5"; shift 5
  log "$label: warm-up ${WARMUP}s, then ${DURATION}s"
  run_wrk "$port" "$ids" "$unknown" "$WARMUP" "$@"
  run_wrk "$port" "$ids" "$unknown" "$DURATION" "$@"
  local non2xx="$W_STATUS"
  case "$label" in nginx*) NGINX_CPUS+=("$W_CPU_US") ;; esac
  [ "$unknown" -gt 0 ] && non2xx="$W_STATUS (404s expected)"
  ROWS+=("| $label | $records | $W_RPS | $(awk -v u="$W_P50" 'BEGIN{printf "%.2f", u/1000}') | $(awk -v u="$W_P99" 'BEGIN{printf "%.2f", u/1000}') | $W_ERR | $non2xx | **$W_CPU_US** | $W_USR_US / $W_SYS_US | @RATIO:$W_CPU_US@ | $W_OTHER % |")
}

MEMROWS=()
# start_emu N [ARGS...] -> EMU_PID EMU_PORT EMU_START_MS
start_emu() {
  local n="$1"; shift
  EMU_PORT="$(free_port)"
  local probe="00000000-0000-4000-8000-000000000000"
  [ "$n" -gt 0 ] && probe="$(head -n1 "${EMU_IDS:-$DATA/ids-$n.txt}")"
  T0="$(now_ns)"
  taskset -c "$SERVER_CPU" "$BIN" --listen "127.0.0.1:$EMU_PORT" --data "${EMU_FIXTURE:-$DATA/images-$n.json}" "$@" \
    >"$TMP/emu-$n.out" 2>"$TMP/emu-$n.err" &
  EMU_PID=$!
  STARTED+=("$EMU_PID")
  wait_answer "http://127.0.0.1:$EMU_PORT/v1/images/$probe" "$EMU_PID" 180 \
    || { cat "$TMP/emu-$n.err" >&2; die "glance-emu with $n records did not answer"; }
  EMU_START_MS="$(awk -v d=$(( $(now_ns) - T0 )) 'BEGIN {printf "%.0f", d / 1e6}')"
  log "glance-emu ($n records) pid $EMU_PID port $EMU_PORT answered after ${EMU_START_MS} ms"
  # Every list order is built right after the first answer; measure after them.
  for _ in $(seq 1 900); do
    grep -q "every list order ready" "$TMP/emu-$n.err" 2>/dev/null && break
    sleep 0.1
  done
}

IDS_1M="$DATA/ids-1000000.txt"

# Lists (issue 17): one client on the load CPU, one keep-alive connection, a request at a
# time (bench/list_bench.py). The first request of each query is a warm-up: it builds the
# list order of its sort key the first time that key is used.
list_run() {  # PORT IDS OUT [list_bench args]
  local port="$1" ids="$2" out="$3"; shift 3
  log "list pages ($(wc -l < "$ids") records, $LIST_REPS requests per row) $*"
  taskset -c "$LOAD_CPU" python3 "$BENCH/list_bench.py" "$port" "$ids" --reps "$LIST_REPS" "$@" > "$out" \
    || { cat "$out" >&2; die "list_bench failed"; }
}
LISTMEM=()
FOLLOW_LINE=""

# ---------------------------------------------------------------------------------------
# 1. nginx, the anchor
# ---------------------------------------------------------------------------------------
NGINX_PORT="$(free_port)"
mkdir -p "$TMP/nginx"
sed -e "s#@DIR@#$TMP/nginx#g" -e "s#@PORT@#$NGINX_PORT#g" -e "s#@ACCESS_LOG@#off#g" "$BENCH/nginx.conf.in" > "$TMP/nginx/nginx.conf"
T0="$(now_ns)"
taskset -c "$SERVER_CPU" "$NGINX" -p "$TMP/nginx" -c "$TMP/nginx/nginx.conf" -e "$TMP/nginx/nginx-error.log" &
NGINX_PID=$!
STARTED+=("$NGINX_PID")
wait_answer "http://127.0.0.1:$NGINX_PORT/v1/images/x" "$NGINX_PID" 20 \
  || { cat "$TMP/nginx/nginx-error.log" >&2; die "nginx did not start"; }
measure "nginx (static headers)" "—" "$IDS_1M" 0 "$NGINX_PORT" "$NGINX_PID"
# nginx stays up (idle) and is measured again at the end, so drift shows.

# ---------------------------------------------------------------------------------------
# 2. glance-emu: 0 records (memory baseline), 10,000 and 1,000,000
# ---------------------------------------------------------------------------------------
start_emu 0
run_wrk "$EMU_PORT" "$IDS_1M" 100 "$WARMUP" "$EMU_PID"   # same traffic shape, all 404
RSS0="$(status_kb "$EMU_PID" VmRSS)"; HWM0="$(status_kb "$EMU_PID" VmHWM)"
MEMROWS+=("| 0 | $EMU_START_MS ms | $((RSS0 / 1024)) MiB | $((HWM0 / 1024)) MiB | — | — |")
stop_pid "$EMU_PID"

start_emu 10000
measure "glance-emu, 200" 10000 "$DATA/ids-10000.txt" 0 "$EMU_PORT" "$EMU_PID"
RSS="$(status_kb "$EMU_PID" VmRSS)"; HWM="$(status_kb "$EMU_PID" VmHWM)"
MEMROWS+=("| 10,000 | $EMU_START_MS ms | $((RSS / 1024)) MiB | $((HWM / 1024)) MiB | $(awk -v a="$HWM" -v b="$RSS" 'BEGIN{printf "%.2f", a/b}') | $(( (RSS - RSS0) * 1024 / 10000 )) |")
[ "$LISTS" = 1 ] && list_run "$EMU_PORT" "$DATA/ids-10000.txt" "$TMP/lists-10k.txt"
stop_pid "$EMU_PID"

start_emu 1000000
START_1M="$EMU_START_MS"
measure "glance-emu, 200" 1000000 "$IDS_1M" 0 "$EMU_PORT" "$EMU_PID"
P99_1M="$W_P99"; ERR_1M="$W_ERR"; NON2XX_1M="$W_STATUS"
measure "glance-emu, 404 (unknown ids)" 1000000 "$IDS_1M" 100 "$EMU_PORT" "$EMU_PID"
# Interleaved rounds: system time on this VM drifts by a microsecond per request between
# runs a minute apart, so the ratio that counts is taken round by round, nginx and
# glance-emu back to back, and the median of those ratios is reported.
RROWS=(); RRATIOS=(); RP99N=(); RP99E=(); QRATIOS=(); LRATIOS=()
# A second glance-emu with its access log off, as nginx's is (access_log off): the same
# rounds then also say what the log costs and whether the rest is as cheap as nginx.
QPORT="$(free_port)"
T0="$(now_ns)"  # wait_answer's timeout counts from here
RUST_LOG="info,glance_emu::access=off" taskset -c "$SERVER_CPU" "$BIN" --listen "127.0.0.1:$QPORT" \
  --data "$DATA/images-1000000.json" >"$TMP/emu-quiet.out" 2>"$TMP/emu-quiet.err" &
QPID=$!
STARTED+=("$QPID")
wait_answer "http://127.0.0.1:$QPORT/v1/images/$(head -n1 "$IDS_1M")" "$QPID" 180 \
  || { cat "$TMP/emu-quiet.err" >&2; die "glance-emu (access log off) did not answer"; }
for _ in $(seq 1 900); do grep -q "every list order ready" "$TMP/emu-quiet.err" && break; sleep 0.1; done
# A second nginx with its access log on (a file, buffered: glance-emu also writes its lines
# from a buffer on another thread), so that each server is also compared with its log on.
LPORT="$(free_port)"
mkdir -p "$TMP/nginx-log"
sed -e "s#@DIR@#$TMP/nginx-log#g" -e "s#@PORT@#$LPORT#g" \
  -e "s#@ACCESS_LOG@#$TMP/nginx-log/access.log combined buffer=64k flush=1s#g" \
  "$BENCH/nginx.conf.in" > "$TMP/nginx-log/nginx.conf"
T0="$(now_ns)"  # wait_answer's timeout counts from here
taskset -c "$SERVER_CPU" "$NGINX" -p "$TMP/nginx-log" -c "$TMP/nginx-log/nginx.conf" -e "$TMP/nginx-log/nginx-error.log" &
LPID=$!
STARTED+=("$LPID")
wait_answer "http://127.0.0.1:$LPORT/v1/images/x" "$LPID" 20 \
  || { cat "$TMP/nginx-log/nginx-error.log" >&2; die "nginx (access log on) did not start"; }
for r in $(seq 1 "$ROUNDS"); do
  log "interleaved round $r/$ROUNDS: nginx, then glance-emu (1M, 200), ${ROUND_SECS}s each"
  run_wrk "$NGINX_PORT" "$IDS_1M" 0 1 "$NGINX_PID"
  run_wrk "$NGINX_PORT" "$IDS_1M" 0 "$ROUND_SECS" "$NGINX_PID"
  n_cpu="$W_CPU_US"; n_us="$W_USR_US / $W_SYS_US"; n_p99="$W_P99"
  run_wrk "$EMU_PORT" "$IDS_1M" 0 1 "$EMU_PID"
  run_wrk "$EMU_PORT" "$IDS_1M" 0 "$ROUND_SECS" "$EMU_PID"
  ratio="$(awk -v a="$W_CPU_US" -v b="$n_cpu" 'BEGIN{printf "%.2f", a/b}')"
  RRATIOS+=("$ratio"); RP99N+=("$n_p99"); RP99E+=("$W_P99")
  e_cpu="$W_CPU_US"; e_us="$W_USR_US / $W_SYS_US"; e_p99="$W_P99"; e_err="$W_ERR"
  run_wrk "$QPORT" "$IDS_1M" 0 1 "$QPID"
  run_wrk "$QPORT" "$IDS_1M" 0 "$ROUND_SECS" "$QPID"
  qratio="$(awk -v a="$W_CPU_US" -v b="$n_cpu" 'BEGIN{printf "%.2f", a/b}')"
  QRATIOS+=("$qratio")
  q_cpu="$W_CPU_US ($W_USR_US / $W_SYS_US)"
  run_wrk "$LPORT" "$IDS_1M" 0 1 "$LPID"
  run_wrk "$LPORT" "$IDS_1M" 0 "$ROUND_SECS" "$LPID"
  lratio="$(awk -v a="$e_cpu" -v b="$W_CPU_US" 'BEGIN{printf "%.2f", a/b}')"
  LRATIOS+=("$lratio")
  RROWS+=("| $r | $n_cpu ($n_us) | $(awk -v u="$n_p99" 'BEGIN{printf "%.2f", u/1000}') | $e_cpu ($e_us) | $(awk -v u="$e_p99" 'BEGIN{printf "%.2f", u/1000}') | $e_err | $ratio | $q_cpu | $qratio | $W_CPU_US ($W_USR_US / $W_SYS_US) | $lratio |")
done
stop_pid "$QPID"
stop_pid "$LPID"
median() { sort -n | awk '{v[NR]=$1} END {if (NR % 2) print v[(NR+1)/2]; else printf "%.2f", (v[NR/2]+v[NR/2+1])/2}'; }
RMEDIAN="$(printf '%s\n' "${RRATIOS[@]}" | median)"
# p99 in µs, median over the rounds, for both servers (one 10 s row is at the mercy of a
# single stall of this VM; nginx's own p99 says how much of it is the machine).
P99_ROUNDS_E="$(printf '%s\n' "${RP99E[@]}" | median)"
P99_ROUNDS_N="$(printf '%s\n' "${RP99N[@]}" | median)"
QMEDIAN="$(printf '%s\n' "${QRATIOS[@]}" | median)"
LMEDIAN="$(printf '%s\n' "${LRATIOS[@]}" | median)"
RSS1M="$(status_kb "$EMU_PID" VmRSS)"; HWM1M="$(status_kb "$EMU_PID" VmHWM)"
BPR=$(( (RSS1M - RSS0) * 1024 / 1000000 ))
PEAK_RATIO="$(awk -v a="$HWM1M" -v b="$RSS1M" 'BEGIN{printf "%.2f", a/b}')"
MEMROWS+=("| 1,000,000 | $START_1M ms | $((RSS1M / 1024)) MiB | $((HWM1M / 1024)) MiB | $(awk -v a="$HWM1M" -v b="$RSS1M" 'BEGIN{printf "%.2f", a/b}') | $BPR |")
if [ "$LISTS" = 1 ]; then
  list_run "$EMU_PORT" "$IDS_1M" "$TMP/lists-1m.txt"
  RSSL="$(status_kb "$EMU_PID" VmRSS)"; HWML="$(status_kb "$EMU_PID" VmHWM)"
  BPR_LISTS=$(( (RSSL - RSS0) * 1024 / 1000000 ))
  MEMROWS+=("| 1,000,000, every list order built | — | $((RSSL / 1024)) MiB | $((HWML / 1024)) MiB | $(awk -v a="$HWML" -v b="$RSSL" 'BEGIN{printf "%.2f", a/b}') | $BPR_LISTS |")
  log "following every marker page of GET /v1/images/detail (20 per page) through 1,000,000 records"
  FOLLOW_LINE="$(taskset -c "$LOAD_CPU" python3 "$BENCH/list_bench.py" "$EMU_PORT" "$IDS_1M" --follow --page 20 ${FOLLOW_MAX:+--max-pages $FOLLOW_MAX})"
fi
stop_pid "$EMU_PID"

# The same binary with the HEAD fast path off: every request through hyper, for comparison.
start_emu 1000000 --no-fast-head
measure "glance-emu, 200, through hyper (--no-fast-head)" 1000000 "$IDS_1M" 0 "$EMU_PORT" "$EMU_PID"
RSS1M="$(status_kb "$EMU_PID" VmRSS)"; HWM1M="$(status_kb "$EMU_PID" VmHWM)"
START_1M_2="$EMU_START_MS"
MEMROWS+=("| 1,000,000 (second start) | $EMU_START_MS ms | $((RSS1M / 1024)) MiB | $((HWM1M / 1024)) MiB | $(awk -v a="$HWM1M" -v b="$RSS1M" 'BEGIN{printf "%.2f", a/b}') | $(( (RSS1M - RSS0) * 1024 / 1000000 )) |")
stop_pid "$EMU_PID"
# Start-up moves by a few hundred ms between starts on a VM: three more starts (to the first
# answer only), and the median of all five is the figure.
STARTS=("$START_1M" "$START_1M_2")
for _ in 1 2 3; do
  SP="$(free_port)"; T0="$(now_ns)"
  taskset -c "$SERVER_CPU" "$BIN" --listen "127.0.0.1:$SP" --data "$DATA/images-1000000.json" >/dev/null 2>"$TMP/emu-starts.err" &
  SPID=$!
  STARTED+=("$SPID")
  wait_answer "http://127.0.0.1:$SP/v1/images/$(head -n1 "$IDS_1M")" "$SPID" 180 \
    || { cat "$TMP/emu-starts.err" >&2; die "glance-emu (start-up sample) did not answer"; }
  STARTS+=("$(awk -v d=$(( $(now_ns) - T0 )) 'BEGIN {printf "%.0f", d / 1e6}')")
  stop_pid "$SPID"
done
START_MED="$(printf '%s\n' "${STARTS[@]}" | sort -n | sed -n 3p)"
log "start-up samples at 1M: ${STARTS[*]} ms (median $START_MED)"

if [ "$LISTS" = 1 ]; then
  # The tenant data set (every record its own owner, no properties, 0.1 % public; one
  # tenant with a few records of its own): a non-admin tenant's pages and the admin's
  # unfiltered pages in every order (--auth trusted-headers), at 10,000 and 1,000,000; and
  # the memory of that data set before and after every list order is built.
  EMU_FIXTURE="$DATA/images-owners-10000.json" EMU_IDS="$DATA/ids-owners-10000.txt" start_emu 10000 --auth trusted-headers
  list_run "$EMU_PORT" "$DATA/ids-owners-10000.txt" "$TMP/lists-owners-10k.txt" --set tenant
  stop_pid "$EMU_PID"
  EMU_FIXTURE="$DATA/images-owners-1000000.json" EMU_IDS="$DATA/ids-owners-1000000.txt" start_emu 1000000 --auth trusted-headers
  RSSO="$(status_kb "$EMU_PID" VmRSS)"
  BPR_OWNERS=$(( (RSSO - RSS0) * 1024 / 1000000 ))
  MEMROWS+=("| 1,000,000, distinct owners, no properties | $EMU_START_MS ms | $((RSSO / 1024)) MiB | $(( $(status_kb "$EMU_PID" VmHWM) / 1024)) MiB | — | $BPR_OWNERS |")
  list_run "$EMU_PORT" "$DATA/ids-owners-1000000.txt" "$TMP/lists-owners-1m.txt" --set tenant
  RSSO="$(status_kb "$EMU_PID" VmRSS)"; HWMO="$(status_kb "$EMU_PID" VmHWM)"
  BPR_OWNERS_LISTS=$(( (RSSO - RSS0) * 1024 / 1000000 ))
  MEMROWS+=("| 1,000,000, distinct owners, no properties, every list order built | — | $((RSSO / 1024)) MiB | $((HWMO / 1024)) MiB | $(awk -v a="$HWMO" -v b="$RSSO" 'BEGIN{printf "%.2f", a/b}') | $BPR_OWNERS_LISTS |")
  stop_pid "$EMU_PID"
fi

measure "nginx (static headers), again" "—" "$IDS_1M" 0 "$NGINX_PORT" "$NGINX_PID"
stop_pid "$NGINX_PID"
NGINX_CPU="$(printf '%s\n' "${NGINX_CPUS[@]}" | awk '{t += $1; n++} END {printf "%.2f", t / n}')"

# ---------------------------------------------------------------------------------------
# 3. Optional: the real Glance 15 v1 API (api + registry, both pinned to the server CPU)
# ---------------------------------------------------------------------------------------
if [ "$WITH_REAL" = 1 ]; then
  SRC="$ROOT/tests/glance-real"
  [ -x "$SRC/setup.sh" ] || die "no glance-real at $SRC"
  REAL_DIR="$TMP/glance-real"
  cp -r "$SRC" "$REAL_DIR"
  rm -rf "$REAL_DIR/state" "$REAL_DIR/.venv"
  log "real Glance: setup (about a minute)"
  (cd "$REAL_DIR" && ./setup.sh >"$TMP/real-setup.log" 2>&1) || { tail -20 "$TMP/real-setup.log" >&2; die "glance-real setup failed"; }
  export API_PORT REGISTRY_PORT
  API_PORT="$(free_port)"; REGISTRY_PORT="$(free_port)"
  (cd "$REAL_DIR" && taskset -c "$SERVER_CPU" ./start.sh >"$TMP/real-start.log" 2>&1) || { cat "$TMP/real-start.log" >&2; die "glance-real start failed"; }
  RPIDS=("$(cat "$REAL_DIR/state/glance-api.pid")" "$(cat "$REAL_DIR/state/glance-registry.pid")")
  log "real Glance: creating 200 typical images"
  : > "$TMP/ids-real.txt"
  for i in $(seq 1 200); do
    curl -s -o /dev/null -D "$TMP/real-h" -X POST --max-time 10 \
      -H "Content-Type: application/octet-stream" \
      -H "x-image-meta-name: image-$i" -H "x-image-meta-disk_format: qcow2" \
      -H "x-image-meta-container_format: bare" -H "x-image-meta-min_disk: $((i % 40))" \
      -H "x-image-meta-min_ram: 512" -H "x-image-meta-owner: 6513270e269e0d37f2a74de452e6b438" \
      -H "x-image-meta-property-hw_disk_bus: virtio" -H "x-image-meta-property-os_distro: ubuntu" \
      --data-binary "image-$i-data" "http://127.0.0.1:$API_PORT/v1/images"
    # 201 with a JSON body; the id is the last segment of Location
    tr -d '\r' < "$TMP/real-h" | awk -F': ' 'tolower($1)=="location" {n = split($2, p, "/"); print p[n]}' >> "$TMP/ids-real.txt"
  done
  [ -s "$TMP/ids-real.txt" ] || die "could not create images in real Glance"
  measure "real Glance 15 (api+registry)" "$(wc -l < "$TMP/ids-real.txt")" "$TMP/ids-real.txt" 0 "$API_PORT" "${RPIDS[@]}"
  "$REAL_DIR/stop.sh" >/dev/null 2>&1 || true
  REAL_DIR=""
fi

# ---------------------------------------------------------------------------------------
# Report
# ---------------------------------------------------------------------------------------
{
  echo "## HEAD /v1/images/<random id>, $CONNS keep-alive connections, ${DURATION} s per row"
  echo
  echo "Server on CPU $SERVER_CPU, wrk (1 thread) on CPU $LOAD_CPU; $(date -u '+%Y-%m-%d %H:%M UTC'); $(nproc) CPUs, $(uname -r)."
  echo
  echo "| server | records | req/s | p50 ms | p99 ms | errors | non-2xx | server CPU µs/req | user / sys | CPU ratio to nginx | other load on server CPU |"
  echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
  for r in "${ROWS[@]}"; do
    c="$(echo "$r" | sed -n 's/.*@RATIO:\([0-9.]*\)@.*/\1/p')"
    echo "$r" | sed "s/@RATIO:[0-9.]*@/$(awk -v a="$c" -v b="$NGINX_CPU" 'BEGIN {printf "%.2f", a / b}')/"
  done
  echo
  echo "CPU ratio to nginx = server CPU µs/req / $NGINX_CPU (the mean of the two nginx rows)."
  echo
  echo "## Interleaved rounds: nginx and glance-emu (1,000,000 records, 200s) back to back, ${ROUND_SECS} s each"
  echo
  echo "| round | nginx CPU µs/req (user / sys) | nginx p99 ms | glance-emu CPU µs/req (user / sys) | glance-emu p99 ms | errors | ratio | glance-emu, access log off (as nginx's), CPU µs/req | ratio, both logs off | nginx with its access log on, CPU µs/req | ratio, both logs on |"
  echo "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
  printf '%s\n' "${RROWS[@]}"
  echo
  echo "Median ratio over $ROUNDS rounds: **$RMEDIAN** glance-emu with its access log on (the default) against nginx with \`access_log off\`; **$QMEDIAN** with both logs off; **$LMEDIAN** with both logs on (nginx: \`access_log FILE combined buffer=64k flush=1s\`, glance-emu: its default log on stderr, redirected to a file)."
  echo
  echo "## glance-emu start-up and memory"
  echo
  echo "| records | start-up to first answer | RSS steady (after load) | peak (VmHWM) | peak / steady | bytes per record |"
  echo "|---:|---:|---:|---:|---:|---:|"
  printf '%s\n' "${MEMROWS[@]}"
  echo
  echo "server CPU µs/req = (utime + stime of the server process over the measured run) / requests."
  echo "\"other load\" is the share of the server's CPU used by anything else during the run (other"
  echo "processes, interrupts); a few percent is normal, more means the figures are noisy."
  echo "bytes per record = (VmRSS with N records - VmRSS with 0 records) / N. Targets (issue 7):"
  echo "CPU ratio ≤ 1.00, start-up ≤ 1 s and ≤ 350 bytes/record with 1,000,000 records, peak ≤ 1.2 × steady,"
  echo "p99 ≤ 1 ms, no errors, 404 as cheap as 200."
  if [ "$LISTS" = 1 ]; then
    echo
    echo "## List pages: 10,000 (small) and 1,000,000 (large) images, one client, one request at a time"
    echo
    echo "Median of $LIST_REPS requests per row after one warm-up; \`limit=25\` unless the query says"
    echo "otherwise; the default view of the noauth admin (public records); the deep marker is a record"
    echo "60 % into the fixture file. \"HEAD\" is a HEAD round trip by the same client in the same run."
    echo
    python3 "$BENCH/list_bench.py" --report "$TMP/lists-10k.txt" "$TMP/lists-1m.txt"
    echo
    echo "Every marker page of GET /v1/images/detail (20 per page, as \`glance image-list\`), 1,000,000 records:"
    echo "\`$FOLLOW_LINE\`"
    echo
    echo "## The tenant data set: a tenant's view (about 0.1 % of the catalogue) and the admin's pages"
    echo
    echo "10,000 (small) and 1,000,000 (large) records, every one with its own owner, 0.1 % public; the"
    echo "tenant owns every 10,000th and is a member of every 50,000th (\`gen_fixtures.py --distinct-owners\`);"
    echo "\`--auth trusted-headers\`; the deep marker is one of the tenant's own records."
    echo
    python3 "$BENCH/list_bench.py" --report "$TMP/lists-owners-10k.txt" "$TMP/lists-owners-1m.txt"
  fi
  echo
  echo "## Every target in this run"
  echo
  echo "| target | this run | met? |"
  echo "|---|---|---|"
  met() { if awk "BEGIN {exit !($1)}"; then echo "yes"; else echo "**not met**"; fi; }
  echo "| CPU per HEAD ≤ nginx's at 1M, like for like (median ratio of the interleaved rounds ≤ 1.00): both access logs on / both off | $LMEDIAN / $QMEDIAN | $(met "$LMEDIAN <= 1.00 && $QMEDIAN <= 1.00") |"
  echo "| the same, glance-emu's log on against nginx's off | $RMEDIAN | $(met "$RMEDIAN <= 1.00") |"
  echo "| start-up to first answer ≤ 1 s at 1M, one core (median of $((${#STARTS[@]})) starts) | $START_MED ms (${STARTS[*]}) | $(met "$START_MED <= 1000") |"
  echo "| ≤ 350 bytes per typical record (after start: every list order built) | $BPR | $(met "$BPR <= 350") |"
  echo "| peak ≤ 1.2 × steady at 1M | $PEAK_RATIO | $(met "$PEAK_RATIO <= 1.2") |"
  echo "| p99 ≤ 1 ms at $CONNS connections (1M, 200s) | $(awk -v u="$P99_1M" 'BEGIN{printf "%.2f", u/1000}') ms | $(met "$P99_1M <= 1000") |"
  echo "| p99 ≤ 1 ms, median of the interleaved rounds (nginx's beside it) | $(awk -v u="$P99_ROUNDS_E" 'BEGIN{printf "%.2f", u/1000}') ms (nginx $(awk -v u="$P99_ROUNDS_N" 'BEGIN{printf "%.2f", u/1000}') ms) | $(met "$P99_ROUNDS_E <= 1000") |"
  echo "| no errors (1M, 200s) | $ERR_1M errors, $NON2XX_1M non-2xx | $(met "$ERR_1M == 0 && $NON2XX_1M == 0") |"
  if [ "$LISTS" = 1 ]; then
    worst() {  # FILE -> "page_small page_head filtered_head"
      python3 "$BENCH/list_bench.py" --report "$1" "$2" | sed -n 's/^Worst unfiltered page: \([0-9.]*\) × small, \([0-9.]*\) × HEAD; worst filtered page: \([0-9.]*\) × HEAD\.$/\1 \2 \3/p'
    }
    read -r ws wh wf <<< "$(worst "$TMP/lists-10k.txt" "$TMP/lists-1m.txt")"
    read -r ts th tf <<< "$(worst "$TMP/lists-owners-10k.txt" "$TMP/lists-owners-1m.txt")"
    echo "| unfiltered page at 1M ≤ 1.5 × at 10k (worst row; typical / tenant data set) | $ws / $ts | $(met "$ws <= 1.5 && $ts <= 1.5") |"
    echo "| unfiltered page at 1M ≤ 5 × HEAD round trip (worst row) | $wh / $th | $(met "$wh <= 5 && $th <= 5") |"
    echo "| filtered page at 1M ≤ 50 × HEAD round trip (worst row, tenant views included) | $wf / $tf | $(met "$wf <= 50 && $tf <= 50") |"
    fp="$(echo "$FOLLOW_LINE" | sed -n 's/.*pages=\([0-9]*\).*total_s=\([0-9.]*\).*/\1 pages in \2 s/p')"
    echo "| every marker page through 1M finishes${FOLLOW_MAX:+ (first $FOLLOW_MAX pages: --quick)} | $fp | $(met "${#fp} > 0") |"
    echo "| ≤ 350 bytes per typical record, every list order built | $BPR_LISTS | $(met "$BPR_LISTS <= 350") |"
    echo "| ≤ 350 bytes per record, distinct owners, after start / every order built | $BPR_OWNERS / $BPR_OWNERS_LISTS | $(met "$BPR_OWNERS_LISTS <= 350") |"
  fi
  echo
  echo "Machine load before the run: ${BUSY}% busy (1 s sample of /proc/stat); the \"other load\" column above says how busy it was during each HEAD row."
} | tee "${OUT:-/dev/null}"

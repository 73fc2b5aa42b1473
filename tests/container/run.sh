#!/usr/bin/env bash
# The container, tested as a user runs it: build the runtime image from the release binary
# (build.sh, no registry needed), start it twice (address chosen by a flag, then by the
# environment), wait for Docker's own HEALTHCHECK to say healthy, run the real-client suite
# (tests/clients, noauth) and the pytest plugin's suite against the container, stop it.
#
# Needs a Docker engine: an already running one is used; otherwise, as root, dockerd is
# installed (Debian's docker.io) and started for this run with no bridge network, and
# stopped again at the end. Where no engine can run at all, the suite prints
# "SKIP: container suite: ..." and exits 0.
# Containers use the host network and loopback addresses only.
# Env: GLANCE_EMU_BIN, CONTAINER_PORT (default 9781; the second container uses +1).
set -uo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
PORT="${CONTAINER_PORT:-9781}"
TAG="glance-emu:ci-$$"
NAMES=()
DOCKERD_PID=""
skip() { echo "SKIP: container suite: $*"; exit 0; }
log() { echo "container: $*"; }

cleanup() {
  for n in "${NAMES[@]}"; do docker rm -f "$n" >/dev/null 2>&1; done
  docker image rm -f "$TAG" >/dev/null 2>&1
  if [ -n "$DOCKERD_PID" ]; then
    kill "$DOCKERD_PID" 2>/dev/null
    for _ in $(seq 100); do kill -0 "$DOCKERD_PID" 2>/dev/null || break; sleep 0.1; done
  fi
}
trap cleanup EXIT

# ---- an engine
if ! docker info >/dev/null 2>&1; then
  if ! command -v dockerd >/dev/null; then
    [ "$(id -u)" = 0 ] || skip "no Docker engine running, and not root to install one"
    log "installing docker.io (Debian) for dockerd"
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
        --no-install-recommends docker.io; } >/tmp/glance-emu-container-apt.log 2>&1 \
      || skip "cannot install docker.io (see /tmp/glance-emu-container-apt.log)"
  fi
  command -v docker >/dev/null || skip "no docker client"
  [ "$(id -u)" = 0 ] || skip "no Docker engine running, and not root to start dockerd"
  dlog="$(mktemp /tmp/glance-emu-dockerd.XXXXXX)"
  log "starting dockerd (log: $dlog)"
  # No bridge and no iptables rules: the containers here use the host network only.
  dockerd --bridge=none --iptables=false --ip-forward=false >"$dlog" 2>&1 &
  DOCKERD_PID=$!
  for _ in $(seq 60); do docker info >/dev/null 2>&1 && break
    kill -0 "$DOCKERD_PID" 2>/dev/null || break; sleep 0.5; done
  docker info >/dev/null 2>&1 || { DOCKERD_PID=""; skip "dockerd cannot run here: $(tail -n 3 "$dlog" | tr '\n' ' ')"; }
fi
# ---- the image
"$HERE/build.sh" "$TAG" || { echo "container: image build failed"; exit 1; }
# An engine that cannot start any container (no namespaces, no cgroups) is a skip; anything
# after this point is a failure.
if ! out="$(docker run --rm --network host "$TAG" --version 2>&1)"; then
  case "$out" in
    *OCI*|*runtime*|*namespace*|*cgroup*|*permission*) skip "the engine cannot run containers: $out";;
    *) echo "container: glance-emu --version in the image failed: $out"; exit 1;;
  esac
fi
log "image runs: $out"

start() {  # <name> <docker run args...> -- <glance-emu args...>
  local name="$1"; shift
  NAMES+=("$name")
  docker run -d --name "$name" --network host --health-interval=1s --health-start-period=1s "$@" >/dev/null
}
wait_healthy() {  # <name>
  local s=""
  for _ in $(seq 60); do
    s="$(docker inspect -f '{{.State.Health.Status}}' "$1" 2>/dev/null)"
    [ "$s" = healthy ] && { log "$1 healthy"; return 0; }
    [ "$(docker inspect -f '{{.State.Running}}' "$1" 2>/dev/null)" = true ] || break
    sleep 0.5
  done
  echo "container: $1 not healthy (status '$s'); its log:"; docker logs "$1" 2>&1 | tail -n 20
  docker inspect -f '{{json .State.Health}}' "$1" 2>/dev/null | tail -c 1500; echo
  return 1
}

rc=0
# 1. The address comes from a flag the HEALTHCHECK cannot see (the image's environment
#    still says 0.0.0.0:9292): the probe must follow the address actually bound.
name1="glance-emu-ci-$$-flag"
start "$name1" "$TAG" --listen "0.0.0.0:$PORT" --control
wait_healthy "$name1" || rc=1
# 2. The address comes from the environment.
name2="glance-emu-ci-$$-env"
start "$name2" -e "GLANCE_EMU_LISTEN=127.0.0.1:$((PORT + 1))" "$TAG"
wait_healthy "$name2" || rc=1
[ $rc = 0 ] || exit 1

url="http://127.0.0.1:$PORT"
head="$(curl -sI "$url/v1/images/3c3d1d01-b48a-4639-8a88-08be3b9b5d78" | head -n 1 | tr -d '\r')"
[ "$head" = "HTTP/1.1 200 OK" ] || { echo "container: HEAD of a bundled image: '$head'"; rc=1; }

log "real clients against $url"
GLANCE_URL="$url" CLIENTS_AUTH_MODES=noauth "$REPO/tests/clients/run.sh" || rc=1
if [ -x "$REPO/python/run.sh" ]; then
  log "pytest plugin against $url"
  GLANCE_EMU_URL="$url" "$REPO/python/run.sh" -k 'not start_ and not plugin_is and not ini_options and not binary_lookup and not readme' || rc=1
fi
docker stop -t 10 "$name1" "$name2" >/dev/null || rc=1
code="$(docker inspect -f '{{.State.ExitCode}}' "$name1")"
[ "$code" = 0 ] || { echo "container: $name1 exited with $code after SIGTERM"; rc=1; }
[ $rc = 0 ] && log "passed" || log "FAILED"
exit $rc

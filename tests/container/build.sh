#!/usr/bin/env bash
# Build the glance-emu runtime image without pulling anything: a build context holding a
# root filesystem with the release binary, the shared libraries `ldd` names (glibc,
# libgcc_s), the sample fixtures and a world-writable /tmp, then Dockerfile.runtime
# (`FROM scratch`).
#   tests/container/build.sh [TAG]     (default tag glance-emu:local)
# Env: GLANCE_EMU_BIN (default <repo>/target/release/glance-emu).
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
TAG="${1:-glance-emu:local}"
BIN="${GLANCE_EMU_BIN:-$REPO/target/release/glance-emu}"
[ -x "$BIN" ] || { echo "build.sh: no binary at $BIN (cargo build --release first)" >&2; exit 1; }

ctx="$(mktemp -d)"
trap 'rm -rf "$ctx"' EXIT
root="$ctx/rootfs"
mkdir -p "$root/usr/local/bin" "$root/srv/glance-emu" "$root/tmp"
chmod 1777 "$root/tmp"
# A stripped copy: the release profile keeps line tables for profiling, the image needs none.
if command -v strip >/dev/null; then strip -o "$root/usr/local/bin/glance-emu" "$BIN"
else cp "$BIN" "$root/usr/local/bin/glance-emu"; fi
# The dynamic loader and every library the binary links against, at the same paths.
for lib in $(ldd "$BIN" | grep -o '/[^ ]*'); do
  cp --parents -L "$lib" "$root"
done
cp -r "$REPO/data" "$root/srv/glance-emu/data"
cp "$HERE/Dockerfile.runtime" "$ctx/Dockerfile"
# The classic builder: needs neither buildx nor a registry (`FROM scratch` pulls nothing).
DOCKER_BUILDKIT=0 nice -n 10 docker build -q -t "$TAG" "$ctx" >/dev/null
echo "built $TAG ($(docker image inspect -f '{{.Size}}' "$TAG") bytes)"

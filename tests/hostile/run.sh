#!/usr/bin/env bash
# CI entry for issue #15's suites against the release binary (built by .ci/run before this):
# the hostile-request suite (tests/hostile/hostile.py: raw byte sequences on both paths,
# start-up and record cases, exhaustion cases), bounded to 10 minutes whatever the server does.
set -euo pipefail
cd "$(dirname "$0")/../.."
bin=${GLANCE_EMU_BIN:-target/release/glance-emu}
[ -x "$bin" ] || cargo build --release --locked
exec timeout --signal=KILL 600 python3 tests/hostile/hostile.py --bin "$bin" "$@"

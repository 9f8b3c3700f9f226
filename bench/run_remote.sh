#!/bin/sh
# Remote-device benchmarks on loopback: starts a cuvirtd on a free port,
# runs bench/remote_bench.cpp (sync round trip vs ZeroMQ REQ/REP vs raw TCP,
# pipelined async throughput, H2D/D2H bandwidth vs raw TCP) against it, and
# a launch-heavy CUDA program locally and remotely when kernels can run.
# Usage: bench/run_remote.sh [BUILD_DIR=build-remote] [ROUNDS=20000] [MAX_BYTES=1073741824]
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$root/build-remote}
rounds=${2:-20000}
max=${3:-1073741824}
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
log=$(mktemp)
"$build/tools/cuvirtd" --listen "tcp://127.0.0.1:$port" --insecure --log-level warn 2>"$log" &
srv=$!
trap 'kill $srv 2>/dev/null; wait $srv 2>/dev/null; rm -f "$log"' EXIT
sleep 0.5
CUVIRT_REMOTE="tcp://127.0.0.1:$port" "$build/remote/server/remote_bench" "$rounds" "$max"
# A launch-heavy program, local CPU device vs the same device through cuvirtd.
prog="$build/tests/remote/remote-multi_stream"
if [ -x "$prog" ]; then
  export LD_LIBRARY_PATH="$build/shims" CUVIRT_JIT_CACHE=off
  t0=$(date +%s.%N)
  if "$prog" >/dev/null 2>&1; then
    t1=$(date +%s.%N)
    CUVIRT_REMOTE="tcp://127.0.0.1:$port" "$prog" >/dev/null 2>&1
    t2=$(date +%s.%N)
    python3 -c "l=$t1-$t0; r=$t2-$t1; print(f'launch-heavy multi_stream: local {l:.2f} s, remote {r:.2f} s, slowdown {r/l:.2f}x')"
  else
    echo "launch-heavy program: skipped (kernels cannot run locally yet)"
  fi
fi

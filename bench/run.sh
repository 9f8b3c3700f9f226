#!/usr/bin/env bash
# Runs the benchmarks against the build in build/ (scripts/setup.sh first).
set -euo pipefail
cd "$(dirname "$0")/.."
B=${1:-build}
ninja -C "$B" bench/entry_overhead bench/runtime_bench >/dev/null
echo "== entry overhead"
"$B/bench/entry_overhead" "$B/shims/libcuda.so.1"
echo "== cudaMemcpy vs memcpy, cudaMalloc+cudaFree"
"$B/tools/cuvirt-run" -- "$B/bench/runtime_bench"

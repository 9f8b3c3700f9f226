#!/bin/sh
# run_client.sh CUVIRT_RUN SCRIPT [warm]: runs a Python CUDA client through
# cuvirt-run (the way a user would), with fresh JIT caches, or with the
# user's persistent ones when the third argument is "warm" (test suites
# whose many kernels would otherwise compile on every run).
# Exit 77 (meson: SKIP) comes from the script when its package is missing.
set -u
run=$1
script=$2
tmp=$(mktemp -d "${TMPDIR:-/tmp}/cuvirt-python.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
if [ "${3:-}" = warm ]; then
  export CUPY_CACHE_DIR="${CUPY_CACHE_DIR:-$HOME/.cache/cuvirt/cupy-kernels}" NUMBA_CACHE_DIR="$tmp/numba"
else
  export CUVIRT_JIT_CACHE="$tmp/jit" CUPY_CACHE_DIR="$tmp/cupy" NUMBA_CACHE_DIR="$tmp/numba"
fi
# NVVM (numba) and NVRTC's headers (CuPy) come from the toolkit.
export CUDA_HOME="${CUDA_HOME:-${CUDA_PATH:-/usr/local/cuda}}"
"$run" -- python3 "$script"

#!/usr/bin/env bash
# The main job: installs, builds, then compiles an ordinary CUDA program with
# nvcc (no special flags) and runs it unmodified on cuvirt's CPU device.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh build
CUDA_PATH=${CUDA_PATH:-/usr/local/cuda}
mkdir -p build/demo
for prog in vector_add matmul; do
  "$CUDA_PATH/bin/nvcc" -O2 -o "build/demo/$prog" "tests/cuda/kernels/$prog.cu"
  echo "== cuvirt-run -- build/demo/$prog"
  build/tools/cuvirt-run -- "build/demo/$prog"
done

#!/usr/bin/env bash
# The main job: installs, builds, then compiles an ordinary CUDA program with
# nvcc (no special flags) and runs it unmodified on cuvirt's CPU device.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh build
CUDA_PATH=${CUDA_PATH:-/usr/local/cuda}
mkdir -p build/demo
# Plain nvcc builds (static cudart, the default): a device query, then
# programs whose kernels compute and check their own results.
for prog in runtime/device_query kernels/vector_add kernels/matmul kernels/reduction; do
  name=$(basename "$prog")
  "$CUDA_PATH/bin/nvcc" -O2 -I tests/cuda/common -o "build/demo/$name" "tests/cuda/$prog.cu"
  prog=$name
  echo "== cuvirt-run -- build/demo/$prog"
  build/tools/cuvirt-run -- "build/demo/$prog"
done

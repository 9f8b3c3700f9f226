#!/usr/bin/env bash
# Installs cuvirt's build and test dependencies (Debian 12 + CUDA Toolkit
# already present), then configures and builds. Idempotent: rerun at will.
#   scripts/setup.sh [build-dir]      (default: build)
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build}
CUDA_PATH=${CUDA_PATH:-/usr/local/cuda}

PKGS=(meson ninja-build pkg-config python3 g++ llvm-22-dev clang-22 libclang-rt-22-dev
      libzstd-dev libelf-dev libzmq3-dev cppzmq-dev flatbuffers-compiler libflatbuffers-dev
      doctest-dev libfmt-dev libspdlog-dev nlohmann-json3-dev libcli11-dev libxxhash-dev
      libtbb-dev liblz4-dev)
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi
if [ ! -x "$CUDA_PATH/bin/nvcc" ]; then
  echo "setup: no CUDA Toolkit at $CUDA_PATH (set CUDA_PATH); nvcc-built tests will be skipped" >&2
fi

if [ ! -f "$BUILD/build.ninja" ]; then
  meson setup "$BUILD" --native-file scripts/llvm22.ini -Dtoolkit="$CUDA_PATH"
fi
ninja -C "$BUILD"

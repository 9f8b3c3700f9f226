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
      libtbb-dev liblz4-dev libopenblas-dev)
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

# Python CUDA clients for the 'clients' tests (tests/python). Best effort:
# without them those tests SKIP loudly. No extras: the toolkit supplies
# libnvvm and NVRTC, and nvJitLink's wheel is not wanted (cuvirt links PTX).
if command -v python3 >/dev/null && python3 -m pip --version >/dev/null 2>&1; then
  py_missing=()
  for p in numba-cuda cupy-cuda13x pytest pytest-timeout filecheck ml_dtypes hypothesis; do
    python3 -m pip show -q "$p" >/dev/null 2>&1 || py_missing+=("$p")
  done
  if ((${#py_missing[@]})); then
    echo "setup: pip-installing ${py_missing[*]} (best effort)"
    python3 -m pip install -q --root-user-action=ignore "${py_missing[@]}" >/dev/null 2>&1 ||
      python3 -m pip install -q --root-user-action=ignore --break-system-packages "${py_missing[@]}" >/dev/null 2>&1 ||
      echo "setup: pip install of ${py_missing[*]} failed; the 'clients' tests will be skipped" >&2
  fi
  # CuPy's own tests ship only in its sdist (tests/python/cupy_suite.py).
  # --no-binary cupy alone: its build dependencies may come as wheels.
  cupy_ver=$(python3 -c 'import cupy; print(cupy.__version__)' 2>/dev/null || true)
  cupy_sdist="$HOME/.cache/cuvirt/cupy-$cupy_ver.tar.gz"
  if [ -n "$cupy_ver" ] && [ ! -f "$cupy_sdist" ]; then
    mkdir -p "$HOME/.cache/cuvirt"
    python3 -m pip download -q --no-deps --no-binary cupy "cupy==$cupy_ver" -d "$HOME/.cache/cuvirt" >/dev/null 2>&1 ||
      echo "setup: download of CuPy $cupy_ver's sdist failed; cupy_suite will be skipped" >&2
  fi
fi

if [ ! -f "$BUILD/build.ninja" ]; then
  meson setup "$BUILD" --native-file scripts/llvm22.ini -Dtoolkit="$CUDA_PATH"
fi
ninja -C "$BUILD"

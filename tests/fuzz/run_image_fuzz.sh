#!/bin/sh
# Builds the image-parser libFuzzer target with clang-22 and runs it on the
# seed corpus in tests/fuzz/corpus/image (new inputs go to a scratch copy).
# Usage: tests/fuzz/run_image_fuzz.sh [seconds=60] [extra libFuzzer flags...]
set -eu
root=$(cd "$(dirname "$0")/../.." && pwd)
secs=${1:-60}
[ $# -gt 0 ] && shift
out=${FUZZ_OUT:-$root/build-image-fuzz}
cuda=${CUDA_PATH:-/usr/local/cuda}
mkdir -p "$out/corpus"
cp -n "$root"/tests/fuzz/corpus/image/* "$out/corpus/" 2>/dev/null || true
lz4_flags=$(pkg-config --exists liblz4 && echo "-DCUVIRT_HAVE_LZ4=1 $(pkg-config --libs liblz4)" || echo "-DCUVIRT_HAVE_LZ4=0")
clang++-22 -std=c++20 -O1 -g -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
  -I"$root" -isystem "$cuda/include" -DSPDLOG_FMT_EXTERNAL -DSPDLOG_COMPILED_LIB \
  "$root"/tests/fuzz/image_fuzz.cpp "$root"/intercept/image/fatbin.cpp "$root"/intercept/image/cubin.cpp \
  "$root"/intercept/image/safe_read.cpp "$root"/runtime/status.cpp \
  $lz4_flags -lzstd -lelf -lspdlog -lfmt -o "$out/image_fuzz"
# -rss_limit_mb: the parsers cap allocations at 1 GiB plus the image copy.
exec "$out/image_fuzz" -max_total_time="$secs" -max_len=65536 -rss_limit_mb=4096 -timeout=10 "$@" "$out/corpus"

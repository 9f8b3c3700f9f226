#!/bin/sh
# Builds the PTX front-end libFuzzer target with clang-22 and runs it on the
# seed corpus in tests/fuzz/corpus/ptx (new inputs go to a scratch copy).
# Usage: tests/fuzz/run_ptx_fuzz.sh [seconds=60] [extra libFuzzer flags...]
set -eu
root=$(cd "$(dirname "$0")/../.." && pwd)
secs=${1:-60}
[ $# -gt 0 ] && shift
out=${FUZZ_OUT:-$root/build-ptx-fuzz}
cuda=${CUDA_PATH:-/usr/local/cuda}
mkdir -p "$out/corpus"
cp -n "$root"/tests/fuzz/corpus/ptx/* "$out/corpus/" 2>/dev/null || true
llvm_flags=$(llvm-config-22 --cxxflags | sed 's/-fno-exceptions//; s/-std=[^ ]*//')
llvm_libs=$(llvm-config-22 --ldflags --libs core support passes)
clang++-22 -std=c++20 -O1 -g -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
  -I"$root" -isystem "$cuda/include" -DSPDLOG_FMT_EXTERNAL -DSPDLOG_COMPILED_LIB $llvm_flags \
  "$root"/tests/fuzz/ptx_fuzz.cpp "$root"/translate/ptx/lexer.cpp "$root"/translate/ptx/parser.cpp \
  "$root"/translate/ptx/types.cpp "$root"/translate/ptx/analysis.cpp "$root"/translate/ptx/module_info.cpp \
  "$root"/translate/ptx/lower.cpp "$root"/translate/ptx/lower_control.cpp "$root"/translate/ptx/lower_integer.cpp \
  "$root"/translate/ptx/lower_float.cpp "$root"/translate/ptx/lower_compare.cpp \
  "$root"/translate/ptx/lower_convert.cpp "$root"/translate/ptx/lower_memory.cpp \
  "$root"/translate/ptx/lower_parallel.cpp "$root"/runtime/status.cpp \
  $llvm_libs -lspdlog -lfmt -o "$out/ptx_fuzz"
# run from $out: with -jobs=N libFuzzer writes fuzz-N.log into the working directory
cd "$out"
exec "$out/ptx_fuzz" -max_total_time="$secs" -max_len=16384 -rss_limit_mb=4096 -timeout=10 \
  -dict="$root/tests/fuzz/ptx.dict" "$@" "$out/corpus"

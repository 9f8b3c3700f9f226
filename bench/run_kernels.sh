#!/usr/bin/env bash
# Kernel benchmarks for the CPU backend: each program runs a CUDA kernel on
# cuvirt and the same algorithm in C++/OpenMP in the same process, and checks
# that the results agree. Builds with nvcc directly; prints a table.
#   bench/run_kernels.sh [build-dir]     (default build/)
set -euo pipefail
cd "$(dirname "$0")/.."
B=${1:-build}
OUT=$B/bench/kernels
mkdir -p "$OUT"
NVCC=${NVCC:-nvcc}
# Host code: -O3 -march=native with OpenMP; PTX for cuvirt's JIT.
FLAGS=(-O3 -std=c++17 -arch=sm_75 -Xcompiler "-O3 -march=native -fopenmp" -lgomp)
build() { # output source
  [[ "$1" -nt "$2" && "$1" -nt bench/kernels/common.h ]] || "$NVCC" "${FLAGS[@]}" -o "$1" "$2"
}
for p in saxpy sgemm reduce stencil texture2d jit_vector_add; do build "$OUT/$p" "bench/kernels/$p.cu"; done
build "$OUT/launch_heavy" bench/launch_heavy.cu
[[ "$OUT/handoff_ref" -nt bench/kernels/handoff_ref.cpp ]] ||
  ${CXX:-g++} -O2 -std=c++17 -pthread -o "$OUT/handoff_ref" bench/kernels/handoff_ref.cpp

# Run on a snapshot of the driver: a background build may relink the one in
# $B/shims while we measure. (Build it first: ninja -C build.) DRIVER=<file>
# measures another copy of libcuda.so.1.
mkdir -p "$OUT/shim"
cp "${DRIVER:-$B/shims/libcuda.so.1}" "$OUT/shim/libcuda.so.1.tmp" && mv "$OUT/shim/libcuda.so.1.tmp" "$OUT/shim/libcuda.so.1"
readelf -h "$OUT/shim/libcuda.so.1" >/dev/null || { echo "bad driver snapshot (build running?)"; exit 1; }
RUN=(env LD_LIBRARY_PATH="$PWD/$OUT/shim")
# Both sides use every core; idle OpenMP threads must sleep, not spin, or they
# would steal the cores from cuvirt's worker threads while the kernel runs.
export OMP_WAIT_POLICY=passive OMP_PROC_BIND=false
# Kernels JIT once into a private cache (warm-up launches are not timed anyway).
CACHE=$(mktemp -d); trap 'rm -rf "$CACHE"' EXIT
export CUVIRT_JIT_CACHE=$CACHE

printf '%-28s %12s %12s %8s %8s  %s\n' benchmark cuda cpp ratio target ok
row() { # name cuda cpp ratio target
  local ok; ok=$(awk -v r="$4" -v t="$5" 'BEGIN{print (r>=t)?"yes":"MISSED"}')
  printf '%-28s %12s %12s %8s %8s  %s\n' "$1" "$2" "$3" "$4" ">=$5" "$ok"
}
val() { sed -n "s/.*$1=\([0-9.]*\).*/\1/p"; }
for p in saxpy:0.8 sgemm:0.5 reduce:0.5 stencil:0.5 texture2d:0.2; do
  name=${p%%:*} target=${p##*:}
  line=$("${RUN[@]}" "$OUT/$name" | grep '^RESULT') || { echo "$name FAILED"; exit 1; }
  row "$name (ms, best)" "$(val cuda_ms <<<"$line")" "$(val cpp_ms <<<"$line")" \
      "$(val ratio <<<"$line")" "$target"
done

lim() { # name value limit unit
  local ok; ok=$(awk -v v="$2" -v l="$3" 'BEGIN{print (v<=l)?"yes":"MISSED"}')
  printf '%-28s %12s %12s %8s %8s  %s\n' "$1" "$2 $4" "" "" "<=$3" "$ok"
}
# Best of 3, alternating with a plain thread hand-off (the machine's floor).
ls=1e9 enq=1e9 ho=1e9
min() { awk -v a="$1" -v b="$2" 'BEGIN{print (a<b)?a:b}'; }
for _ in 1 2 3; do
  lh=$("${RUN[@]}" "$OUT/launch_heavy" 20000)
  ls=$(min "$ls" "$(sed -n 's/launch+synchronize: \([0-9.]*\).*/\1/p' <<<"$lh")")
  enq=$(min "$enq" "$(sed -n 's/async enqueue: \([0-9.]*\).*/\1/p' <<<"$lh")")
  ho=$(min "$ho" "$("$OUT/handoff_ref" 20000 | sed -n 's/.*: \([0-9.]*\).*/\1/p')")
done
lim "launch+sync (empty)" "$ls" 5 us
lim "async enqueue" "$enq" 1 us
printf '%-28s %12s %12s\n' "(ref: thread hand-off)" "$ho us" "x$(awk -v a="$ls" -v b="$ho" 'BEGIN{printf "%.1f", a/b}')"

# JIT: the first launch+sync of vectorAdd with an empty cache (compiles),
# then again with the same cache (loads the object). Best of 3 fresh caches.
cold=1e9 warm=1e9 second=1e9
for _ in 1 2 3; do
  export CUVIRT_JIT_CACHE=$CACHE/jit-$RANDOM$RANDOM
  mkdir "$CUVIRT_JIT_CACHE"
  c=$("${RUN[@]}" "$OUT/jit_vector_add" | grep '^RESULT')
  w=$("${RUN[@]}" "$OUT/jit_vector_add" | grep '^RESULT')
  cold=$(min "$cold" "$(val first_launch_ms <<<"$c")")
  warm=$(min "$warm" "$(val first_launch_ms <<<"$w")")
  second=$(min "$second" "$(val second_launch_ms <<<"$w")")
done
lim "JIT cold (1st launch+sync)" "$cold" 150 ms
lim "JIT cached (1st launch)" "$warm" 5 ms
echo "(vectorAdd's 2nd launch+sync: $second ms; $(nproc) cores)"

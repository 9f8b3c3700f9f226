#!/usr/bin/env bash
# Experiment for the JIT owners: how much the kernels gain when global
# addresses are GEPs on the parameter pointers instead of inttoptr(add).
# Needs opt/llc of cuvirt's LLVM (22) and the programs bench/run_kernels.sh
# built. Takes the JIT's block IR (cuvirt-ptx --emit block-ir), optimises it
# as is and after rebase.py with opt -O3, and times both in driver.cpp.
#   bench/kernels/addressing/run.sh [build-dir]
set -euo pipefail
cd "$(dirname "$0")/../../.."
B=${1:-build}
OPT=${OPT:-opt-22} LLC=${LLC:-llc-22}
W=$(mktemp -d); trap 'rm -rf "$W"' EXIT
objs=()
for k in saxpy:_Z5saxpyifPKfPf stencil:_Z7stencilPKfPfi; do
  name=${k%%:*} sym=${k##*:}
  "$B/tools/cuvirt-ptx" --emit block-ir "$B/bench/kernels/$name" 2>/dev/null | sed -n '/^; ModuleID/,$p' >"$W/$name.ll"
  python3 bench/kernels/addressing/rebase.py "$W/$name.ll" "$W/${name}_rb.ll"
  for v in jit rebased; do
    src=$W/$name.ll; [[ $v == rebased ]] && src=$W/${name}_rb.ll
    sed "s/@$sym.block/@${name}_$v/" "$src" | "$OPT" -O3 -mcpu=native -S -o "$W/${name}_$v.ll"
    echo "$name ($v): $(grep -cE 'masked\.(gather|scatter)' "$W/${name}_$v.ll") gathers/scatters in the IR"
    "$LLC" -O3 -mcpu=native -filetype=obj "$W/${name}_$v.ll" -o "$W/${name}_$v.o"
    objs+=("$W/${name}_$v.o")
  done
done
g++ -O3 -march=native -fopenmp -o "$W/driver" bench/kernels/addressing/driver.cpp "${objs[@]}"
OMP_WAIT_POLICY=passive "$W/driver"

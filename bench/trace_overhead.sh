#!/usr/bin/env bash
# cuvirt-trace's cost: per call on a trivial call (layer off = not in the call
# path; layer on writing text to a file) against a direct call of the same
# implementation in the same process, and a launch-heavy program's run time
# untraced vs traced.
set -euo pipefail
cd "$(dirname "$0")/.."
B=${1:-build}
ninja -C "$B" bench/entry_overhead bench/launch_heavy >/dev/null
out=$(mktemp)
echo "== per call, layer off (not installed)"
env -u CUVIRT_TRACE "$B/bench/entry_overhead" "$B/shims/libcuda.so.1"
echo "== per call, layer on, text to a file"
CUVIRT_TRACE=1 CUVIRT_TRACE_OUTPUT="$out" CUVIRT_TRACE_SUMMARY=off "$B/bench/entry_overhead" "$B/shims/libcuda.so.1"
echo "   ($(wc -l < "$out") lines written)"
echo "== launch-heavy program, whole run"
t() { local s e; s=$(date +%s.%N); "$@" > /dev/null; e=$(date +%s.%N); echo "$e - $s" | bc; }
plain=$(t "$B/tools/cuvirt-run" -- "$B/bench/launch_heavy" 20000)
traced=$(t "$B/tools/cuvirt-trace" --backend cpu -o "$out" -- "$B/bench/launch_heavy" 20000)
echo "untraced ${plain}s, traced ${traced}s, slowdown $(echo "scale=2; $traced / $plain" | bc)x"
rm -f "$out"

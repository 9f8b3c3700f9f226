#!/usr/bin/env bash
# Installs dependencies, builds, and runs every test: the unit, conformance,
# end-to-end, trace, PTX and remote suites, then the unit and conformance
# tests again under AddressSanitizer and UndefinedBehaviorSanitizer.
# Exit status: 0 only if everything passed.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh build

echo "== tests (build/)"
meson test -C build --print-errorlogs --num-processes 2

echo "== unit and conformance tests under ASan + UBSan (build-asan/)"
if [ ! -f build-asan/build.ninja ]; then
  # Only what these suites need: no nvcc-built programs, no benchmarks.
  meson setup build-asan --native-file scripts/llvm22.ini -Db_sanitize=address,undefined \
    -Db_lundef=false -Dbuildtype=debug -De2e=false -Dtoolkit="${CUDA_PATH:-/usr/local/cuda}"
fi
ASAN_OPTIONS=detect_leaks=0 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
  meson test -C build-asan --suite unit --suite conformance --print-errorlogs --num-processes 2

# One closing line over both runs, in the plain form CI reads.
python3 - build/meson-logs/testlog.json build-asan/meson-logs/testlog.json <<'PY'
import json, sys
counts = {"OK": 0, "FAIL": 0, "SKIP": 0}
for path in sys.argv[1:]:
    with open(path) as f:
        for line in f:
            result = json.loads(line).get("result")
            key = "OK" if result in ("OK", "EXPECTEDFAIL") else "SKIP" if result == "SKIP" else "FAIL"
            counts[key] += 1
print(f"tests: {counts['OK']} passed, {counts['FAIL']} failed, {counts['SKIP']} skipped")
PY

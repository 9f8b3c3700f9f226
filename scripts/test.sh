#!/usr/bin/env bash
# Installs dependencies, builds, and runs every test: the unit, conformance
# and end-to-end suites, then the unit tests again under AddressSanitizer and
# UndefinedBehaviorSanitizer. Exit status: 0 only if everything passed.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh build

echo "== tests (build/)"
meson test -C build --print-errorlogs --num-processes 2

echo "== unit tests under ASan + UBSan (build-asan/)"
if [ ! -f build-asan/build.ninja ]; then
  meson setup build-asan --native-file scripts/llvm22.ini -Db_sanitize=address,undefined \
    -Db_lundef=false -Dbuildtype=debug
fi
# Only what the unit suite runs: the sanitised build need not rebuild the rest.
targets=$(meson introspect build-asan --tests | python3 -c '
import json, sys
for t in json.load(sys.stdin):
    if "unit" in t["suite"] or any(s.endswith(":unit") for s in t["suite"]):
        cmd = t["cmd"][0]
        if cmd.startswith(sys.argv[1]):
            print(cmd[len(sys.argv[1]) + 1:])
' "$(pwd)/build-asan")
ninja -C build-asan $targets shims/libcuda.so.1
ASAN_OPTIONS=detect_leaks=0 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
  meson test -C build-asan --no-rebuild --suite unit --print-errorlogs --num-processes 2

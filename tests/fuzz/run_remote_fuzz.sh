#!/bin/sh
# Builds the remote-protocol libFuzzer target with clang-22 and runs it on
# the seed corpus tests/fuzz/corpus/remote (new inputs go to a scratch copy).
# Usage: tests/fuzz/run_remote_fuzz.sh [seconds=60] [extra libFuzzer flags...]
#   FUZZ_SERVER=1  also serve decoded frames with cuvirtd's handlers (needs
#                  build-remote built: it links that build's core library)
set -eu
root=$(cd "$(dirname "$0")/../.." && pwd)
secs=${1:-60}
[ $# -gt 0 ] && shift
out=${FUZZ_OUT:-$root/build-remote-fuzz}
build=${BUILD:-$root/build-remote}
mkdir -p "$out/corpus" "$out/gen"
cp -n "$root"/tests/fuzz/corpus/remote/* "$out/corpus/" 2>/dev/null || true
flatc --cpp --scoped-enums -o "$out/gen" "$root/remote/protocol/remote.fbs"
flags="-std=c++20 -O1 -g -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined -I$root -I$out/gen"
if [ "${FUZZ_SERVER:-0}" = 1 ]; then
  # The server's files instrumented; the core (runtime, CPU backend) as built.
  link=$(sed -n '/^build tools\/cuvirtd: /,/LINK_ARGS/p' "$build/build.ninja" | sed -n 's/.*LINK_ARGS = //p')
  (cd "$build" && clang++-22 $flags -DREMOTE_FUZZ_SERVER -isystem "${CUDA_PATH:-/usr/local/cuda}/include" \
    -DSPDLOG_FMT_EXTERNAL -DSPDLOG_COMPILED_LIB -DSPDLOG_SHARED_LIB \
    "$root"/tests/fuzz/remote_fuzz.cpp "$root"/remote/server/server.cpp "$root"/remote/server/session.cpp \
    $(echo "$link" | sed 's/-Wl,--start-group//; s/-Wl,--end-group//; s#remote/server/libcuvirt_remote_server.a##') \
    -o "$out/remote_fuzz")
else
  clang++-22 $flags "$root"/tests/fuzz/remote_fuzz.cpp "$root"/remote/protocol/protocol.cpp -o "$out/remote_fuzz"
fi
exec "$out/remote_fuzz" -max_total_time="$secs" -max_len=65536 -rss_limit_mb=4096 -timeout=10 "$@" "$out/corpus"

#!/bin/sh
# Run a test program against cuvirt's libcuda.so.1.
#
# usage: run_under_cuvirt.sh [options] SHIMS_DIR PROGRAM [ARGS...]
#   SHIMS_DIR             directory holding cuvirt's libcuda.so.1
#   --preload             also LD_PRELOAD SHIMS_DIR/libcuda.so.1 (dlopen tests)
#   --expect-stdout FILE  stdout must equal FILE, line for line (after the
#                         program exits 0); a diff is printed on mismatch
#   --expect-stderr-grep PATTERN
#                         stderr must contain a line matching PATTERN (grep -E)
#
# Sets LD_LIBRARY_PATH to SHIMS_DIR (first) and CUVIRT_JIT_CACHE to a fresh
# temporary directory, runs PROGRAM, and passes its exit status through.
set -u

preload=0
expect_stdout=
expect_stderr=
while [ $# -gt 0 ]; do
  case "$1" in
    --preload) preload=1; shift ;;
    --expect-stdout) expect_stdout=$2; shift 2 ;;
    --expect-stderr-grep) expect_stderr=$2; shift 2 ;;
    --) shift; break ;;
    -*) echo "run_under_cuvirt.sh: unknown option $1" >&2; exit 2 ;;
    *) break ;;
  esac
done
if [ $# -lt 2 ]; then
  echo "usage: run_under_cuvirt.sh [--preload] [--expect-stdout FILE] SHIMS_DIR PROGRAM [ARGS...]" >&2
  exit 2
fi
shims=$1; shift
if [ ! -e "$shims/libcuda.so.1" ]; then
  echo "run_under_cuvirt.sh: $shims/libcuda.so.1 does not exist" >&2
  exit 2
fi

cache=$(mktemp -d "${TMPDIR:-/tmp}/cuvirt-jit-cache.XXXXXX") || exit 2
out=$cache.stdout
err=$cache.stderr
cleanup() { rm -rf "$cache" "$out" "$err"; }
trap cleanup EXIT
trap 'exit 130' INT TERM

CUVIRT_JIT_CACHE=$cache
LD_LIBRARY_PATH=$shims${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
export CUVIRT_JIT_CACHE LD_LIBRARY_PATH
if [ $preload = 1 ]; then
  LD_PRELOAD=$shims/libcuda.so.1${LD_PRELOAD:+:$LD_PRELOAD}
  export LD_PRELOAD
fi

if [ -z "$expect_stdout" ] && [ -z "$expect_stderr" ]; then
  "$@"
  exit $?
fi

# Capture, replay (so meson's log has everything), then compare.
"$@" >"$out" 2>"$err"
rc=$?
cat "$out"
cat "$err" >&2
if [ $rc -ne 0 ]; then
  echo "run_under_cuvirt.sh: $1 exited with status $rc" >&2
  exit $rc
fi
if [ -n "$expect_stdout" ]; then
  if ! diff -u "$expect_stdout" "$out" >&2; then
    echo "run_under_cuvirt.sh: stdout differs from $expect_stdout (diff above: - expected, + actual)" >&2
    exit 1
  fi
fi
if [ -n "$expect_stderr" ]; then
  if ! grep -Eq -- "$expect_stderr" "$err"; then
    echo "run_under_cuvirt.sh: stderr has no line matching /$expect_stderr/" >&2
    exit 1
  fi
fi
exit 0

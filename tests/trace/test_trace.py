#!/usr/bin/env python3
"""cuvirt-trace, checked the way a user reads its output: exact call
sequences with decoded arguments, parseable JSON lines and Chrome traces,
filters, passthrough to a second driver, and a crashing program's trace."""
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile

TRACE, APP, DRIVER = sys.argv[1], sys.argv[2], sys.argv[3]
failures = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what)
    if not cond:
        failures.append(what)


def run(args, **kw):
    env = dict(os.environ, CUVIRT_JIT_CACHE="off")
    env.pop("CUVIRT_TRACE", None)
    return subprocess.run([TRACE, "--driver", DRIVER] + args, capture_output=True, text=True, env=env,
                          timeout=120, **kw)


def jsonl(path):
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def calls(records):
    return [r for r in records if "api" in r]


def subsequence(records, expected):
    """Each expected (api, {arg: value}, result) appears in order."""
    i = 0
    for rec in records:
        if i == len(expected):
            break
        api, args, result = expected[i]
        if rec.get("api") != api:
            continue
        if result is not None and rec["result"] != result:
            continue
        if all(rec["args"].get(k) == v or (callable(v) and v(rec["args"].get(k))) for k, v in args.items()):
            i += 1
    return i, expected[i] if i < len(expected) else None


with tempfile.TemporaryDirectory() as tmp:
    # 1. JSON lines: the exact sequence, arguments decoded.
    out = os.path.join(tmp, "t.jsonl")
    p = run(["--format", "jsonl", "-o", out, "--", APP])
    check(p.returncode == 0, f"traced program succeeds (rc={p.returncode}: {p.stderr[-300:]})")
    recs = jsonl(out)
    check(len(recs) > 50, f"jsonl parses, {len(recs)} records")
    hexptr = lambda v: v is not None and v.startswith("&0x")
    expected = [
        ("cuInit@2000", {"Flags": "0"}, "CUDA_SUCCESS"),
        ("cuDeviceGetCount@2000", {"count": "&1"}, "CUDA_SUCCESS"),
        ("cuDevicePrimaryCtxRetain@7000", {"dev": "0"}, "CUDA_SUCCESS"),
        ("cuMemAlloc@3020", {"bytesize": "4096", "dptr": hexptr}, "CUDA_SUCCESS"),
        ("cuMemHostAlloc@2020", {"bytesize": "4096"}, "CUDA_SUCCESS"),
        ("cuMemcpyHtoD@3020", {"ByteCount": "4096"}, "CUDA_SUCCESS"),
        ("cuStreamCreate@2000", {"Flags": "1"}, "CUDA_SUCCESS"),
        ("cuEventCreate@2000", {}, "CUDA_SUCCESS"),
        ("cuEventRecord@2000", {"hStream": "stream#1"}, "CUDA_SUCCESS"),
        ("cuLaunchKernel@4000", {"gridDimX": "4", "blockDimX": "256", "hStream": "stream#1",
                                 "decoded": lambda d: d is not None and d.startswith(
                                     "void scaleKernel<float>(float*, float, int)<<<(4,1,1), (256,1,1), 0, stream#1>>>")},
         None),
        ("cuMemcpyDtoHAsync@3020", {"ByteCount": "4096", "decoded": "4096 bytes DtoH"}, "CUDA_SUCCESS"),
        ("cuEventSynchronize@2000", {}, "CUDA_SUCCESS"),
        ("cuEventElapsedTime@12080", {}, "CUDA_SUCCESS"),
        ("cuMemAlloc@3020", {"bytesize": str(1 << 50)}, "CUDA_ERROR_OUT_OF_MEMORY"),
        ("cuStreamDestroy@4000", {"hStream": "stream#1"}, "CUDA_SUCCESS"),
        ("cuMemFree@3020", {}, "CUDA_SUCCESS"),
        ("cuMemFreeHost@2000", {}, "CUDA_SUCCESS"),
    ]
    found, missing = subsequence(calls(recs), expected)
    check(found == len(expected), f"expected call sequence ({found}/{len(expected)} found; next missing: {missing})")
    hidden = [r for r in calls(recs) if r["api"].startswith("INTEGRITY_CHECK[1]")]
    check(len(hidden) == 3, "hidden-table calls are named by table and slot (INTEGRITY_CHECK[1] x3)")
    check(all("ts_us" in r and "dur_us" in r and "tid" in r for r in calls(recs)), "every call record has time, duration, thread")
    check("== cuvirt-trace summary ==" in p.stderr and "bytes copied:" in p.stderr, "summary at exit")

    # 2. Chrome trace-event JSON: loads, API calls on thread tracks, the
    #    asynchronous copy on its stream's track.
    out = os.path.join(tmp, "t.json")
    p = run(["--format", "chrome", "-o", out, "--", APP])
    with open(out) as f:
        events = json.load(f)
    check(isinstance(events, list) and len(events) > 50, "chrome trace is a JSON array of events")
    api = [e for e in events if e.get("pid") == 1 and e.get("ph") == "X"]
    streams = [e for e in events if e.get("pid") == 2 and e.get("ph") == "X"]
    check(any(e["name"] == "cuMemAlloc@3020" for e in api), "API calls on thread tracks")
    check(any(e["cat"] == "memcpy" and e["name"] == "DtoH" for e in streams), "async copy on a stream track")
    check(all(isinstance(e["ts"], (int, float)) and e["dur"] >= 0 for e in api + streams), "spans have ts and dur")

    # 3. Text, filtered.
    p = run(["--only", "cuMem*", "--", APP])
    lines = [l for l in p.stderr.splitlines() if " T1 " in l]
    names = {l.split()[2].split("(")[0] for l in lines}
    check(names and all(n.startswith("cuMem") for n in names), f"--only cuMem* keeps only cuMem* ({sorted(names)[:5]})")
    # Options end at the program, with or without `--`: the program is not
    # taken as one more pattern.
    p = run(["--only", "cuMemAlloc*", "--only", "cuInit", APP])
    lines = [l for l in p.stderr.splitlines() if " T1 " in l]
    names = {l.split()[2].split("(")[0].split("@")[0] for l in lines}
    check(p.returncode == 0 and names == {"cuInit", "cuMemAlloc"},
          f"--only twice, no `--`: both patterns, program runs ({sorted(names)}, rc={p.returncode})")
    p = run(["--bogus", APP])
    check(p.returncode == 2 and "unknown option --bogus" in p.stderr, "an unknown option is refused")
    p = run(["--summary-only", "--", APP])
    check(" T1 " not in p.stderr and "cuMemAlloc@3020" in p.stderr, "--summary-only prints the summary alone")

    # 4. Passthrough: the trace layer in front of a second, separately
    #    loaded driver playing NVIDIA's.
    real = os.path.join(tmp, "nvidia", "libcuda.so.1")
    os.makedirs(os.path.dirname(real))
    shutil.copy(DRIVER, real)
    out = os.path.join(tmp, "native.jsonl")
    p = run(["--native", real, "--format", "jsonl", "-o", out, "--", APP])
    check(p.returncode == 0, f"passthrough run succeeds (rc={p.returncode}: {p.stderr[-300:]})")
    recs = jsonl(out)
    check(recs and recs[0].get("terminal") == real, "the trace names the driver it passed through to")
    found, missing = subsequence(calls(recs), expected)
    check(found == len(expected), f"passthrough: same call sequence ({found}/{len(expected)}; next missing: {missing})")
    p = run(["--native", DRIVER, "--", APP])
    check(p.returncode != 0 and "cuvirt's own" in p.stderr, "refuses to pass through to cuvirt's own library")

    # 5. A crashing program leaves its trace.
    out = os.path.join(tmp, "crash.jsonl")
    p = run(["--format", "jsonl", "-o", out, "--", APP, "1"])
    check(p.returncode == -signal.SIGSEGV or p.returncode == 128 + signal.SIGSEGV,
          f"the crash is passed through (rc={p.returncode})")
    recs = jsonl(out)
    check(any(r.get("api") == "cuMemFreeHost@2000" for r in recs), "calls before the crash are in the trace")

    # 6. Images dumped by kernel set.
    dump = os.path.join(tmp, "images")
    p = run(["--dump-images", dump, "--summary-only", "--", APP])
    files = os.listdir(dump) if os.path.isdir(dump) else []
    check(any("scaleKernel" in f and f.endswith(".ptx") for f in files), f"--dump-images writes the PTX ({files})")

print(f"{len(failures)} failed")
sys.exit(1 if failures else 0)

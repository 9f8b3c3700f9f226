#!/usr/bin/env python3
"""cuvirt's libcuda.so.1 exports every cu* symbol of NVIDIA's stub libcuda.so."""
import subprocess
import sys


def exports(lib):
    out = subprocess.check_output(["nm", "-D", "--defined-only", lib], text=True)
    return {line.split()[-1] for line in out.splitlines() if " T " in line}


ours, stub = sys.argv[1], sys.argv[2]
try:
    theirs = {s for s in exports(stub) if s.startswith("cu")}
except (OSError, subprocess.CalledProcessError):
    print(f"SKIP: no NVIDIA stub library at {stub}")
    sys.exit(77)
mine = exports(ours)
missing = sorted(theirs - mine)
print(f"{len(theirs)} cu* exports in the stub, {len(theirs & mine)} in cuvirt's libcuda.so.1")
if missing:
    print("missing:", " ".join(missing))
    sys.exit(1)
extra = sorted(s for s in mine - theirs if s != "dlopen")
if extra:
    print("unexpected exports:", " ".join(extra))
    sys.exit(1)

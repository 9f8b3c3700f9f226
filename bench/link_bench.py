#!/usr/bin/env python3
"""cuLinkCreate .. cuLinkComplete wall time for the nvcc-built link inputs
of tests/cuda (build them first: ninja -C build cuda-kernel-programs).
    python3 bench/link_bench.py [build-dir]"""
import ctypes
import os
import sys
import time

build = sys.argv[1] if len(sys.argv) > 1 else "build"
cu = ctypes.CDLL(os.path.join(build, "shims", "libcuda.so.1"))
progs = os.path.join(build, "tests", "cuda")
PTX, OBJECT, LIBRARY = 1, 3, 4  # CUjitInputType
ctx = ctypes.c_void_p()
assert cu.cuInit(0) == 0
assert cu.cuDevicePrimaryCtxRetain(ctypes.byref(ctx), 0) == 0
assert cu.cuCtxSetCurrent(ctx) == 0


def link(inputs):
    state = ctypes.c_void_p()
    assert cu.cuLinkCreate_v2(0, None, None, ctypes.byref(state)) == 0
    for kind, path in inputs:
        r = cu.cuLinkAddFile_v2(state, kind, path.encode(), 0, None, None)
        assert r == 0, f"cuLinkAddFile({path}) = {r}"
    image, size = ctypes.c_void_p(), ctypes.c_size_t()
    assert cu.cuLinkComplete(state, ctypes.byref(image), ctypes.byref(size)) == 0
    assert cu.cuLinkDestroy(state) == 0
    return size.value


main_ptx = (PTX, os.path.join(progs, "rdc_main.ptx"))
cases = {
    "PTX + host object": [main_ptx, (OBJECT, os.path.join(progs, "rdc_lib.o"))],
    "PTX + archive": [main_ptx, (LIBRARY, os.path.join(progs, "librdc_lib.a"))],
}
for label, inputs in cases.items():
    link(inputs)
    n = 50
    start = time.perf_counter()
    for _ in range(n):
        size = link(inputs)
    print(f"{label}: {(time.perf_counter() - start) / n * 1e3:.3f} ms per link, {size} bytes of PTX out")

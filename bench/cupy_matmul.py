# cupy.matmul on cuvirt's CPU device (cuBLAS -> libcuvirt_cublas.so ->
# OpenBLAS) against numpy.matmul (numpy's own OpenBLAS) in the same process:
#   build/tools/cuvirt-run -- python3 bench/cupy_matmul.py
import time

import cupy
import numpy


def timed(fn, reps, sync=None):
    fn()
    if sync:
        sync()
    start = time.perf_counter()
    for _ in range(reps):
        fn()
    if sync:
        sync()
    return (time.perf_counter() - start) / reps


sync = cupy.cuda.Device().synchronize
for dtype in (numpy.float32, numpy.float64, numpy.complex64):
    for n in (256, 1024):
        a = numpy.random.rand(n, n).astype(dtype)
        b = numpy.random.rand(n, n).astype(dtype)
        da, db = cupy.asarray(a), cupy.asarray(b)
        reps = 20 if n == 256 else 4
        tc = timed(lambda: da @ db, reps, sync)
        tn = timed(lambda: a @ b, reps)
        flops = (8 if dtype == numpy.complex64 else 2) * n**3
        err = float(numpy.abs(cupy.asnumpy(da @ db) - a @ b).max() / numpy.abs(a @ b).max())
        print(f"{numpy.dtype(dtype).name:9s} n={n:5d}: cupy {tc * 1e3:8.2f} ms ({flops / tc / 1e9:6.1f} GFLOP/s)"
              f"  numpy {tn * 1e3:8.2f} ms ({flops / tn / 1e9:6.1f} GFLOP/s)  rel. error {err:.1e}")

"""Cost of numba-cuda's this_grid().sync() (libcudadevrt's cudaCGSynchronize)
on cuvirt: the sequential_rows kernel of numba-cuda's test_cooperative_groups
(1023 grid syncs), timed on its second launch, result checked.

    CUDA_HOME=/usr/local/cuda build/tools/cuvirt-run python3 bench/numba_grid_sync.py
"""
import sys
import time

try:
    import numpy as np
    from numba import cuda
    from numba.cuda import int32
except ImportError as e:
    print(f"SKIP: numba-cuda is not importable ({e})")
    sys.exit(77)


def sequential_rows(M):
    col = cuda.grid(1)
    g = cuda.cg.this_grid()
    for row in range(1, M.shape[0]):
        M[row, col] = M[row - 1, M.shape[1] - col - 1] + 1
        g.sync()


kernel = cuda.jit((int32[:, ::1],))(sequential_rows)
ok = True
for blocks in (2, 32):
    d = cuda.to_device(np.zeros((1024, blocks * 32), np.int32))
    kernel[blocks, 32](d)  # compiles
    cuda.synchronize()
    t = time.perf_counter()
    kernel[blocks, 32](d)
    cuda.synchronize()
    dt = time.perf_counter() - t
    right = bool((d.copy_to_host() == np.arange(1024)[:, None]).all())
    ok &= right
    print(f"{blocks} blocks x 32 threads: 1023 grid syncs in {dt * 1e3:.1f} ms "
          f"({dt / 1023 * 1e6:.1f} us per sync), rows {'right' if right else 'WRONG'}")
sys.exit(0 if ok else 1)

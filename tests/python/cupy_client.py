"""CuPy on cuvirt: kernels compiled by NVRTC to PTX (CUPY_COMPILE_WITH_PTX=1,
set by cuvirt-run), loaded with cuModuleLoadData and run on the CPU device."""
import sys

try:
    import numpy as np
    import cupy as cp
except ImportError as e:  # loud skip: meson reads 77 as SKIP
    print(f"SKIP: cupy is not importable ({e}); scripts/setup.sh installs cupy-cuda13x")
    sys.exit(77)

failures = 0


def expect(cond, what):
    global failures
    if not cond:
        failures += 1
        print(f"FAILED: {what}", file=sys.stderr)


n = 4096
x = cp.arange(n, dtype=cp.float32)
hx = np.arange(n, dtype=np.float32)

# elementwise ufuncs and host <-> device copies
expect(np.allclose(cp.asnumpy(x * 2 + 1), hx * 2 + 1), "elementwise x * 2 + 1")
expect(np.allclose(cp.asnumpy(cp.sin(x)), np.sin(hx), atol=1e-5), "cp.sin")

# reductions
expect(float(x.sum()) == float(hx.sum(dtype=np.float64)), "x.sum()")
m = cp.arange(12, dtype=cp.int32).reshape(3, 4)
expect((cp.asnumpy(m.sum(axis=0)) == np.arange(12).reshape(3, 4).sum(axis=0)).all(), "sum(axis=0)")
expect(int(cp.argmax(cp.asarray([3, 9, 2, 9]))) == 1, "argmax")

# RawKernel: CUDA C++ through NVRTC
saxpy = cp.RawKernel(r'''
extern "C" __global__ void saxpy(float a, const float *x, const float *y, float *out, int n) {
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) out[i] = a * x[i] + y[i];
}''', "saxpy")
y = cp.ones(n, dtype=cp.float32)
out = cp.empty_like(x)
saxpy(((n + 127) // 128,), (128,), (cp.float32(3.0), x, y, out, cp.int32(n)))
expect(np.allclose(cp.asnumpy(out), 3 * hx + 1), "RawKernel saxpy")

# ElementwiseKernel
squared_diff = cp.ElementwiseKernel("float32 a, float32 b", "float32 z", "z = (a - b) * (a - b)", "squared_diff")
expect(np.allclose(cp.asnumpy(squared_diff(x, y)), (hx - 1) ** 2), "ElementwiseKernel")

# ReductionKernel
l2 = cp.ReductionKernel("float32 v", "float32 r", "v * v", "a + b", "r = sqrt(a)", "0", "l2norm")
expect(np.isclose(float(l2(x[:100])), np.sqrt((hx[:100] ** 2).sum())), "ReductionKernel")

# F- to C-order copy of a 2-D float array: CuPy hands it to cuBLAS (geam),
# whose PTX transpose kernel forms 32-bit shared addresses that wrap.
hf = np.arange(33 * 70, dtype=np.float64).reshape(33, 70)
expect((cp.asnumpy(cp.asfortranarray(cp.asarray(hf)).copy("C")) == hf).all(), "copy('C') of an F-order array")
expect((cp.asnumpy(cp.lexsort(cp.asarray([[3, 1, 2], [0, 0, 1]]))) == [1, 0, 2]).all(), "lexsort")

if failures:
    print(f"FAILED cupy_client: {failures} check(s)", file=sys.stderr)
    sys.exit(1)
print("PASSED cupy_client")

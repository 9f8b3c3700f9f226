"""numba-cuda on cuvirt: @cuda.jit kernels compiled by NVVM to PTX, linked by
the driver's cuLink* (cuvirt's linker), run on the CPU device."""
import math
import os
import sys
import tempfile

try:
    import numpy as np
    from numba import cuda, float32
except ImportError as e:  # loud skip: meson reads 77 as SKIP
    print(f"SKIP: numba-cuda is not importable ({e}); scripts/setup.sh installs it")
    sys.exit(77)

failures = 0


def expect(cond, what):
    global failures
    if not cond:
        failures += 1
        print(f"FAILED: {what}", file=sys.stderr)


# cuda.detect() lists cuvirt's device
expect(cuda.is_available(), "cuda.is_available()")
expect(cuda.detect(), "cuda.detect() found no supported device")
name = cuda.get_current_device().name
name = name.decode() if isinstance(name, bytes) else name
expect("cuvirt" in name, f"the device is cuvirt's, not {name!r}")


@cuda.jit(device=True)
def axpb(a, x, b):
    return a * x + b


@cuda.jit
def elementwise(x, y, out):
    i = cuda.grid(1)
    if i < out.size:
        out[i] = axpb(2.0, x[i], y[i]) + math.sqrt(x[i])


@cuda.jit
def block_sum(x, out):
    tile = cuda.shared.array(128, dtype=float32)
    t = cuda.threadIdx.x
    i = cuda.grid(1)
    tile[t] = x[i] if i < x.size else 0.0
    cuda.syncthreads()
    step = 64
    while step > 0:
        if t < step:
            tile[t] += tile[t + step]
        cuda.syncthreads()
        step //= 2
    if t == 0:
        out[cuda.blockIdx.x] = tile[0]


@cuda.jit
def histogram(values, bins):
    i = cuda.grid(1)
    if i < values.size:
        cuda.atomic.add(bins, values[i] % bins.size, 1)


n = 10000
x = np.arange(n, dtype=np.float32)
y = np.full(n, 3.0, dtype=np.float32)

# device arrays, host <-> device copies
dx, dy = cuda.to_device(x), cuda.to_device(y)
dout = cuda.device_array_like(x)
elementwise[(n + 127) // 128, 128](dx, dy, dout)
expect(np.allclose(dout.copy_to_host(), 2 * x + y + np.sqrt(x)), "elementwise kernel with a device function")

blocks = (n + 127) // 128
partial = cuda.device_array(blocks, dtype=np.float32)
block_sum[blocks, 128](dx, partial)
expect(np.isclose(partial.copy_to_host().sum(dtype=np.float64), x.sum(dtype=np.float64), rtol=1e-6),
       "shared-memory block reduction with syncthreads")

values = np.arange(n, dtype=np.int32) * 7
bins = cuda.to_device(np.zeros(16, dtype=np.int32))
histogram[(n + 255) // 256, 256](cuda.to_device(values), bins)
expect((bins.copy_to_host() == np.bincount(values % 16, minlength=16)).all(), "atomic histogram")

# A kernel calling a function from a separate PTX module: two inputs to
# cuLinkAddData, the .extern resolved by cuvirt's linker.
PTX = """
.version 7.0
.target sm_52
.address_size 64

.visible .func (.param .b32 status) cuvirt_triple(.param .b64 ret, .param .b32 x)
{
  .reg .b32 %r<3>;
  .reg .b64 %rd<2>;
  ld.param.u64 %rd1, [ret];
  ld.param.u32 %r1, [x];
  mul.lo.s32 %r2, %r1, 3;
  st.u32 [%rd1], %r2;
  mov.u32 %r1, 0;
  st.param.b32 [status], %r1;
  ret;
}
"""
with tempfile.TemporaryDirectory() as tmp:
    ptx_path = os.path.join(tmp, "triple.ptx")
    with open(ptx_path, "w") as f:
        f.write(PTX)
    triple = cuda.declare_device("cuvirt_triple", "int32(int32)", link=[ptx_path])

    @cuda.jit(link=[ptx_path])
    def use_triple(a):
        i = cuda.grid(1)
        if i < a.size:
            a[i] = triple(a[i])

    a = np.arange(100, dtype=np.int32)
    da = cuda.to_device(a)
    use_triple[1, 128](da)
    expect((da.copy_to_host() == a * 3).all(), "kernel linked with a separate PTX module")

if failures:
    print(f"FAILED numba_client: {failures} check(s)", file=sys.stderr)
    sys.exit(1)
print("PASSED numba_client")

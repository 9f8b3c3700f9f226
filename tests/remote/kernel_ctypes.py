#!/usr/bin/env python3
"""Kernel launch through ctypes: cuInit, cuModuleLoadData of PTX, launch,
read back - on every device the environment selects (remote ones included).
Exit 77 (skip) while the CPU device cannot run kernels yet (no PTX JIT)."""
import ctypes, os, struct, sys

PTX = rb"""
.version 7.0
.target sm_52
.address_size 64
.visible .entry vadd(.param .u64 a, .param .u64 b, .param .u64 c, .param .u32 n)
{
  .reg .pred p; .reg .b32 r<6>; .reg .b64 rd<11>; .reg .f32 f<4>;
  ld.param.u64 rd1, [a]; ld.param.u64 rd2, [b]; ld.param.u64 rd3, [c]; ld.param.u32 r1, [n];
  mov.u32 r2, %ctaid.x; mov.u32 r3, %ntid.x; mov.u32 r4, %tid.x;
  mad.lo.s32 r5, r2, r3, r4;
  setp.ge.u32 p, r5, r1;
  @p bra DONE;
  cvta.to.global.u64 rd4, rd1; cvta.to.global.u64 rd5, rd2; cvta.to.global.u64 rd6, rd3;
  mul.wide.u32 rd7, r5, 4;
  add.s64 rd8, rd4, rd7; add.s64 rd9, rd5, rd7; add.s64 rd10, rd6, rd7;
  ld.global.f32 f1, [rd8]; ld.global.f32 f2, [rd9];
  add.f32 f3, f1, f2;
  st.global.f32 [rd10], f3;
DONE:
  ret;
}
"""

def run():
    cu = ctypes.CDLL("libcuda.so.1")
    def check(r, what):
        if r != 0:
            name = ctypes.c_char_p()
            cu.cuGetErrorName(r, ctypes.byref(name))
            return f"{what} failed: {r} {name.value.decode() if name.value else ''}"
        return None
    err = check(cu.cuInit(0), "cuInit")
    if err:
        return 1, err
    count = ctypes.c_int()
    cu.cuDeviceGetCount(ctypes.byref(count))
    results = []
    for dev in range(count.value):
        ctx = ctypes.c_void_p()
        err = check(cu.cuCtxCreate_v2(ctypes.byref(ctx), 0, dev), "cuCtxCreate")
        if err:
            return 1, err
        mod = ctypes.c_void_p()
        err = check(cu.cuModuleLoadData(ctypes.byref(mod), ctypes.c_char_p(PTX + b"\0")), "cuModuleLoadData")
        if err:
            return 1, err
        fn = ctypes.c_void_p()
        r = cu.cuModuleGetFunction(ctypes.byref(fn), mod, b"vadd")
        if r == 801 or r == 209:  # NOT_SUPPORTED / NO_BINARY_FOR_GPU: no JIT in this build yet
            return 77, "kernels cannot run on this device yet (PTX JIT missing)"
        err = check(r, "cuModuleGetFunction")
        if err:
            return 1, err
        n = 1000
        a = (ctypes.c_float * n)(*[float(i) for i in range(n)])
        b = (ctypes.c_float * n)(*[2.0 * i for i in range(n)])
        c = (ctypes.c_float * n)()
        ptrs = []
        for host in (a, b, c):
            d = ctypes.c_uint64()
            cu.cuMemAlloc_v2(ctypes.byref(d), ctypes.c_size_t(4 * n))
            cu.cuMemcpyHtoD_v2(d, host, ctypes.c_size_t(4 * n))
            ptrs.append(d)
        nn = ctypes.c_uint32(n)
        args = (ctypes.c_void_p * 4)(*[ctypes.cast(ctypes.byref(p), ctypes.c_void_p) for p in ptrs],
                                     ctypes.cast(ctypes.byref(nn), ctypes.c_void_p))
        r = cu.cuLaunchKernel(fn, 4, 1, 1, 256, 1, 1, 0, None, args, None)
        if r == 801:
            return 77, "kernels cannot run on this device yet (PTX JIT missing)"
        err = check(r, "cuLaunchKernel") or check(cu.cuCtxSynchronize(), "cuCtxSynchronize")
        if err:
            if "801" in err or "209" in err:
                return 77, "kernels cannot run on this device yet: " + err
            return 1, err
        cu.cuMemcpyDtoH_v2(c, ptrs[2], ctypes.c_size_t(4 * n))
        bad = [i for i in range(n) if c[i] != 3.0 * i]
        if bad:
            return 1, f"device {dev}: wrong sums at {bad[:5]}"
        results.append(sum(c))
        cu.cuCtxDestroy_v2(ctx)
    return 0, f"ok: {count.value} device(s), sums {results}"

if __name__ == "__main__":
    rc, text = run()
    print(text)
    sys.exit(rc)

#!/usr/bin/env python3
"""Driver-API smoke test through ctypes: memory, copies, fills, streams,
events against whatever CUVIRT_REMOTE / CUVIRT_BACKEND select. Exit 0 on
success; prints what failed otherwise."""
import ctypes, os, sys

cu = ctypes.CDLL("libcuda.so.1")
def check(r, what):
    if r != 0:
        name = ctypes.c_char_p()
        cu.cuGetErrorName(r, ctypes.byref(name))
        raise SystemExit(f"{what} failed: {r} {name.value}")

check(cu.cuInit(0), "cuInit")
n = ctypes.c_int()
check(cu.cuDeviceGetCount(ctypes.byref(n)), "cuDeviceGetCount")
expect = int(os.environ.get("EXPECT_DEVICES", "0"))
if expect and n.value != expect:
    raise SystemExit(f"expected {expect} devices, got {n.value}")
for dev in range(n.value):
    ctx = ctypes.c_void_p()
    check(cu.cuCtxCreate_v2(ctypes.byref(ctx), 0, dev), "cuCtxCreate")
    size = 3 << 20
    d = ctypes.c_uint64()
    check(cu.cuMemAlloc_v2(ctypes.byref(d), ctypes.c_size_t(size)), "cuMemAlloc")
    host = (ctypes.c_uint8 * size)(*([i % 251 for i in range(size)]))
    back = (ctypes.c_uint8 * size)()
    check(cu.cuMemcpyHtoD_v2(d, host, ctypes.c_size_t(size)), "HtoD")
    check(cu.cuMemcpyDtoH_v2(back, d, ctypes.c_size_t(size)), "DtoH")
    if bytes(back) != bytes(host):
        raise SystemExit(f"device {dev}: round trip mismatch")
    check(cu.cuMemsetD32_v2(d, ctypes.c_uint(0x01020304), ctypes.c_size_t(16)), "memset")
    check(cu.cuMemcpyDtoH_v2(back, d, ctypes.c_size_t(68)), "DtoH")
    if bytes(back[:4]) != b"\x04\x03\x02\x01" or bytes(back[60:64]) != b"\x04\x03\x02\x01" or bytes(back[64:68]) != bytes(host[64:68]):
        raise SystemExit(f"device {dev}: memset wrong: {bytes(back[:8])}")
    # Async, pinned: stream order across copy, fill, D2D.
    pinned = ctypes.c_void_p()
    check(cu.cuMemAllocHost_v2(ctypes.byref(pinned), ctypes.c_size_t(size)), "cuMemAllocHost")
    s = ctypes.c_void_p()
    check(cu.cuStreamCreate(ctypes.byref(s), 0), "cuStreamCreate")
    d2 = ctypes.c_uint64()
    check(cu.cuMemAlloc_v2(ctypes.byref(d2), ctypes.c_size_t(size)), "cuMemAlloc")
    check(cu.cuMemsetD8Async(d2, ctypes.c_ubyte(7), ctypes.c_size_t(size), s), "memsetAsync")
    check(cu.cuMemcpyDtoDAsync_v2(d2, d, ctypes.c_size_t(1000), s), "DtoDAsync")
    check(cu.cuMemcpyDtoHAsync_v2(pinned, d2, ctypes.c_size_t(size), s), "DtoHAsync")
    ev = ctypes.c_void_p()
    check(cu.cuEventCreate(ctypes.byref(ev), 0), "cuEventCreate")
    check(cu.cuEventRecord(ev, s), "cuEventRecord")
    check(cu.cuEventSynchronize(ev), "cuEventSynchronize")
    got = ctypes.string_at(pinned, size)
    if got[1000:1010] != b"\x07" * 10 or got[64:68] != bytes(host[64:68]) or got[:4] != b"\x04\x03\x02\x01":
        raise SystemExit(f"device {dev}: async sequence wrong")
    check(cu.cuStreamSynchronize(s), "cuStreamSynchronize")
    # Legacy IPC: the CPU device shares memory and events (runtime/ipc.cpp);
    # a remote device refuses with NOT_SUPPORTED (801), and its interprocess
    # events still work as ordinary ones.
    ipc = ctypes.c_int()
    check(cu.cuDeviceGetAttribute(ctypes.byref(ipc), 125, dev), "IPC_EVENT_SUPPORTED")
    want = 0 if ipc.value else 801
    handle = (ctypes.c_char * 64)()
    if (r := cu.cuIpcGetMemHandle(handle, d)) != want:
        raise SystemExit(f"device {dev}: cuIpcGetMemHandle returned {r}, expected {want}")
    iev = ctypes.c_void_p()
    check(cu.cuEventCreate(ctypes.byref(iev), 6), "cuEventCreate(INTERPROCESS)")
    check(cu.cuEventRecord(iev, s), "cuEventRecord(INTERPROCESS)")
    check(cu.cuEventSynchronize(iev), "cuEventSynchronize(INTERPROCESS)")
    check(cu.cuEventQuery(iev), "cuEventQuery(INTERPROCESS)")
    if (r := cu.cuIpcGetEventHandle(handle, iev)) != want:
        raise SystemExit(f"device {dev}: cuIpcGetEventHandle returned {r}, expected {want}")
    check(cu.cuEventDestroy_v2(iev), "cuEventDestroy")
    check(cu.cuMemFree_v2(d), "cuMemFree")
    check(cu.cuMemFree_v2(d2), "cuMemFree")
    check(cu.cuCtxDestroy_v2(ctx), "cuCtxDestroy")
print(f"ok: {n.value} device(s)")

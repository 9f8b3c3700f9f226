#!/usr/bin/env python3
"""Two remote devices (two servers): an event recorded on one device's
stream is waited for by the other's, and copies between the devices (staged
through the client) see the data in stream order."""
import ctypes, sys

cu = ctypes.CDLL("libcuda.so.1")
def check(r, what):
    if r != 0:
        raise SystemExit(f"{what} failed: {r}")

check(cu.cuInit(0), "cuInit")
n = ctypes.c_int()
cu.cuDeviceGetCount(ctypes.byref(n))
if n.value < 2:
    raise SystemExit(f"need 2 devices, have {n.value}")
size = 1 << 20
ctx, buf, stream = [], [], []
for dev in range(2):
    c = ctypes.c_void_p()
    check(cu.cuDevicePrimaryCtxRetain(ctypes.byref(c), dev), "retain")
    check(cu.cuCtxSetCurrent(c), "set current")
    d = ctypes.c_uint64()
    check(cu.cuMemAlloc_v2(ctypes.byref(d), ctypes.c_size_t(size)), "alloc")
    s = ctypes.c_void_p()
    check(cu.cuStreamCreate(ctypes.byref(s), 1), "stream")
    ctx.append(c); buf.append(d); stream.append(s)

# Device 0: fill, record. Device 1: wait for it, then pull device 0's data.
check(cu.cuCtxSetCurrent(ctx[0]), "set 0")
check(cu.cuMemsetD32Async(buf[0], ctypes.c_uint(0xC0FFEE), ctypes.c_size_t(size // 4), stream[0]), "fill 0")
ev = ctypes.c_void_p()
check(cu.cuEventCreate(ctypes.byref(ev), 2), "event")  # CU_EVENT_DISABLE_TIMING
check(cu.cuEventRecord(ev, stream[0]), "record")
check(cu.cuCtxSetCurrent(ctx[1]), "set 1")
check(cu.cuMemsetD8Async(buf[1], ctypes.c_ubyte(0), ctypes.c_size_t(size), stream[1]), "clear 1")
check(cu.cuStreamWaitEvent(stream[1], ev, 0), "wait event")
check(cu.cuMemcpyPeerAsync(buf[1], ctx[1], buf[0], ctx[0], ctypes.c_size_t(size), stream[1]), "peer copy")
host = (ctypes.c_uint32 * (size // 4))()
check(cu.cuMemcpyDtoHAsync_v2(host, buf[1], ctypes.c_size_t(size), stream[1]), "read back")
check(cu.cuStreamSynchronize(stream[1]), "sync 1")
bad = [i for i in range(0, size // 4, 997) if host[i] != 0xC0FFEE]
if bad:
    raise SystemExit(f"device 1 did not see device 0's data in order: {hex(host[bad[0]])} at {bad[0]}")
# A synchronous copy the other way.
check(cu.cuMemsetD32_v2(buf[1], ctypes.c_uint(7), ctypes.c_size_t(size // 4)), "fill 1")
check(cu.cuMemcpyPeer(buf[0], ctx[0], buf[1], ctx[1], ctypes.c_size_t(size)), "peer copy back")
check(cu.cuCtxSetCurrent(ctx[0]), "set 0")
check(cu.cuMemcpyDtoH_v2(host, buf[0], ctypes.c_size_t(size)), "read 0")
if host[0] != 7 or host[size // 4 - 1] != 7:
    raise SystemExit("synchronous peer copy wrong")
print("ok: cross-server event wait and peer copies")

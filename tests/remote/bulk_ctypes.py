#!/usr/bin/env python3
"""Device->host copies that may take the bulk socket (remote/README.md),
through the driver API (ctypes), against CUVIRT_REMOTE's one server.

usage: bulk_ctypes.py sizes   every size around the bulk threshold and the
                              4 MiB piece size, offsets, a pitched 2-D copy,
                              an async copy; checks the bytes and that nothing
                              is written past the destination; prints
                              "bulk_candidate_bytes N" (synchronous reads at
                              least the threshold big)
       bulk_ctypes.py fault CODE  one 1 MiB read against `remote_probe fake`
                              must fail with CODE, nothing written outside it
       bulk_ctypes.py loop    reads 64 MiB again and again until a call
                              fails; exit 0 when it fails with
                              CUDA_ERROR_DEVICE_UNAVAILABLE (46)"""
import ctypes, random, sys

THRESHOLD = 64 << 10  # protocol.h kBulkMinBytes
PIECE = 4 << 20       # protocol.h kChunkBytes

cu = ctypes.CDLL("libcuda.so.1")


def check(r, what):
    if r != 0:
        name = ctypes.c_char_p()
        cu.cuGetErrorName(r, ctypes.byref(name))
        raise SystemExit(f"{what} failed: {r} {name.value}")


class Memcpy2D(ctypes.Structure):
    _fields_ = [("srcXInBytes", ctypes.c_size_t), ("srcY", ctypes.c_size_t), ("srcMemoryType", ctypes.c_int),
                ("srcHost", ctypes.c_void_p), ("srcDevice", ctypes.c_uint64), ("srcArray", ctypes.c_void_p),
                ("srcPitch", ctypes.c_size_t),
                ("dstXInBytes", ctypes.c_size_t), ("dstY", ctypes.c_size_t), ("dstMemoryType", ctypes.c_int),
                ("dstHost", ctypes.c_void_p), ("dstDevice", ctypes.c_uint64), ("dstArray", ctypes.c_void_p),
                ("dstPitch", ctypes.c_size_t),
                ("WidthInBytes", ctypes.c_size_t), ("Height", ctypes.c_size_t)]


MEMORYTYPE_HOST, MEMORYTYPE_DEVICE = 1, 2
GUARD = 4096


def setup(size):
    check(cu.cuInit(0), "cuInit")
    ctx = ctypes.c_void_p()
    check(cu.cuCtxCreate_v2(ctypes.byref(ctx), 0, 0), "cuCtxCreate")
    d = ctypes.c_uint64()
    check(cu.cuMemAlloc_v2(ctypes.byref(d), ctypes.c_size_t(size)), "cuMemAlloc")
    return d.value


def read_checked(d, data, offset, n):
    """DtoH of n bytes at d+offset into a buffer with guard bytes around it."""
    buf = ctypes.create_string_buffer(b"\xab" * (n + 2 * GUARD), n + 2 * GUARD)
    check(cu.cuMemcpyDtoH_v2(ctypes.c_void_p(ctypes.addressof(buf) + GUARD), ctypes.c_uint64(d + offset),
                             ctypes.c_size_t(n)), f"DtoH {n} bytes at +{offset}")
    raw = buf.raw
    if raw[:GUARD] != b"\xab" * GUARD or raw[GUARD + n:] != b"\xab" * GUARD:
        raise SystemExit(f"DtoH {n} bytes at +{offset}: wrote outside the destination")
    if raw[GUARD:GUARD + n] != data[offset:offset + n]:
        first = next(i for i in range(n) if raw[GUARD + i] != data[offset + i])
        raise SystemExit(f"DtoH {n} bytes at +{offset}: wrong data from byte {first}")


def sizes():
    size = 3 * PIECE + (1 << 20)
    d = setup(size)
    data = random.Random(5).randbytes(size)
    check(cu.cuMemcpyHtoD_v2(ctypes.c_uint64(d), data, ctypes.c_size_t(size)), "HtoD")
    check(cu.cuCtxSynchronize(), "cuCtxSynchronize")
    candidates = 0
    cases = [1, 4096, THRESHOLD - 1, THRESHOLD, THRESHOLD + 1, PIECE - 1, PIECE, PIECE + 1,
             2 * PIECE + 4097, 3 * PIECE + 12345]
    for n in cases:
        for offset in (0, 5):
            read_checked(d, data, offset, n)
            candidates += n if n >= THRESHOLD else 0
    # Pitched: rows of `width` bytes `spitch` apart on the device, `dpitch`
    # apart on the host (the server packs the rows; the client places them).
    width, height, spitch, dpitch = 100003, 40, 131072, 100017
    host = ctypes.create_string_buffer(b"\xcd" * (dpitch * height), dpitch * height)
    c = Memcpy2D(srcMemoryType=MEMORYTYPE_DEVICE, srcDevice=d + 7, srcPitch=spitch,
                 dstMemoryType=MEMORYTYPE_HOST, dstHost=ctypes.addressof(host), dstPitch=dpitch,
                 WidthInBytes=width, Height=height)
    check(cu.cuMemcpy2D_v2(ctypes.byref(c)), "cuMemcpy2D DtoH")
    raw = host.raw
    for r in range(height):
        if raw[r * dpitch:r * dpitch + width] != data[7 + r * spitch:7 + r * spitch + width]:
            raise SystemExit(f"2-D DtoH: row {r} wrong")
        if r + 1 < height and raw[r * dpitch + width:(r + 1) * dpitch] != b"\xcd" * (dpitch - width):
            raise SystemExit(f"2-D DtoH: bytes between rows {r} and {r + 1} overwritten")
    candidates += width * height
    # Asynchronous reads keep their stream order (they stay on zmq).
    s = ctypes.c_void_p()
    check(cu.cuStreamCreate(ctypes.byref(s), 0), "cuStreamCreate")
    pinned = ctypes.c_void_p()
    n = 2 * PIECE + 99
    check(cu.cuMemAllocHost_v2(ctypes.byref(pinned), ctypes.c_size_t(n)), "cuMemAllocHost")
    check(cu.cuMemsetD8Async(ctypes.c_uint64(d + PIECE), ctypes.c_ubyte(0x5a), ctypes.c_size_t(1000), s), "memsetAsync")
    check(cu.cuMemcpyDtoHAsync_v2(pinned, ctypes.c_uint64(d), ctypes.c_size_t(n), s), "DtoHAsync")
    check(cu.cuStreamSynchronize(s), "cuStreamSynchronize")
    got = ctypes.string_at(pinned, n)
    if got[:PIECE] != data[:PIECE] or got[PIECE:PIECE + 1000] != b"\x5a" * 1000 or got[PIECE + 1000:] != data[PIECE + 1000:n]:
        raise SystemExit("async DtoH after memsetAsync: wrong data (stream order)")
    # Synchronous reads after it see the memset too.
    data = data[:PIECE] + b"\x5a" * 1000 + data[PIECE + 1000:]
    read_checked(d, data, PIECE - 10, 2 * PIECE)
    candidates += 2 * PIECE
    print(f"bulk_candidate_bytes {candidates}")
    print("ok: sizes")


def fault(expected):
    """One 1 MiB read against remote_probe's fake server: it must fail with
    `expected` and write nothing outside the destination."""
    d = setup(8 << 20)
    n = 1 << 20
    buf = ctypes.create_string_buffer(b"\xab" * (n + 2 * GUARD), n + 2 * GUARD)
    r = cu.cuMemcpyDtoH_v2(ctypes.c_void_p(ctypes.addressof(buf) + GUARD), ctypes.c_uint64(d), ctypes.c_size_t(n))
    raw = buf.raw
    if raw[:GUARD] != b"\xab" * GUARD or raw[GUARD + n:] != b"\xab" * GUARD:
        raise SystemExit("a broken bulk read wrote outside the destination")
    if r != expected:
        raise SystemExit(f"a broken bulk read returned {r}, expected {expected}")
    print(f"ok: fault {r}")


def loop():
    size = 64 << 20
    d = setup(size)
    buf = ctypes.create_string_buffer(size)
    check(cu.cuMemcpyDtoH_v2(buf, ctypes.c_uint64(d), ctypes.c_size_t(size)), "first DtoH")
    print("ready", flush=True)
    for _ in range(100000):
        r = cu.cuMemcpyDtoH_v2(buf, ctypes.c_uint64(d), ctypes.c_size_t(size))
        if r != 0:
            print("error", r, flush=True)
            sys.exit(0 if r == 46 else 3)
    sys.exit(4)


if __name__ == "__main__":
    if sys.argv[1] == "fault":
        fault(int(sys.argv[2]))
    else:
        {"sizes": sizes, "loop": loop}[sys.argv[1]]()

// Copies and fills in every direction and shape: cuMemcpy*, cuMemset*.
#include "cuvirt_api.h"
#include "runtime/api_support.h"
#include "runtime/array.h"
#include "runtime/capture.h"
#include "runtime/runtime.h"

namespace cuvirt {
namespace {

enum class Expect { Host, Device, Any };

/// Checks that [address, address + bytes) lies in memory of the expected
/// kind, readable (and writable if `write`); unknown addresses count as
/// pageable host memory. Sets *pinned.
Status checkRange(std::uint64_t address, std::size_t bytes, Expect expect, bool write, bool *host,
                  bool *pinned, const char *what) {
  if (address == 0 && bytes != 0)
    return error(CUDA_ERROR_INVALID_VALUE, "{}: NULL pointer", what);
  auto a = findAllocation(address);
  const bool deviceKind = a && (a->kind == MemKind::Device || a->kind == MemKind::Managed);
  if (expect == Expect::Device && !a)
    return error(CUDA_ERROR_INVALID_VALUE, "{}: 0x{:x} is not device memory", what, address);
  if (a && bytes != 0 && address + bytes > a->base + a->size && a->kind != MemKind::Registered)
    return error(CUDA_ERROR_INVALID_VALUE, "{}: {} bytes at 0x{:x} run past the end of its allocation", what,
                 bytes, address);
  // cuMemSetAccess may have made a mapping read-only or inaccessible: the
  // host-side copy would fault the whole process.
  if (a && a->vmm && bytes != 0 && !vmmHostAccessible(address, bytes, write))
    return error(CUDA_ERROR_INVALID_VALUE, "{}: 0x{:x} is mapped without {} access", what, address,
                 write ? "write" : "read");
  *host = !deviceKind;
  *pinned = a.has_value();
  return {};
}

/// The span of a strided copy, for range checks.
std::size_t extent(std::size_t width, std::size_t height, std::size_t depth, std::size_t pitch,
                   std::size_t slice) {
  if (width == 0 || height == 0 || depth == 0)
    return 0;
  pitch = pitch ? pitch : width;
  slice = slice ? slice : pitch * height;
  return (depth - 1) * slice + (height - 1) * pitch + width;
}

Status copy(CopyOp op, Expect dstKind, Expect srcKind, CUstream handle, bool async, const char *what) {
  auto s = resolveStream(handle);
  if (!s)
    return s.status();
  if (op.widthBytes == 0 || op.height == 0 || op.depth == 0)
    return {};
  bool dstPinned = false, srcPinned = false;
  CUVIRT_TRY(checkRange(op.dst, extent(op.widthBytes, op.height, op.depth, op.dstPitch, op.dstSliceBytes),
                        dstKind, true, &op.dstHost, &dstPinned, what));
  CUVIRT_TRY(checkRange(op.src, extent(op.widthBytes, op.height, op.depth, op.srcPitch, op.srcSliceBytes),
                        srcKind, false, &op.srcHost, &srcPinned, what));
  Stream *stream = *s;
  if (capturing(stream))
    return captureCopy(stream, op, async);
  BackendDevice *device = stream->context->device->backend.get();
  // Pageable host memory makes an async copy synchronous, as in CUDA.
  const bool pageable = (op.dstHost && !dstPinned) || (op.srcHost && !srcPinned);
  if (async && !pageable)
    return submit(stream, [&](Queue &q) { q.copy(op); });
  return runSynchronously(stream, [&] { return device->copyNow(op); }, [&](Queue &q) { q.copy(op); });
}

Status copyLinear(std::uint64_t dst, std::uint64_t src, std::size_t bytes, Expect d, Expect s,
                  CUstream stream, bool async, const char *what) {
  CopyOp op;
  op.dst = dst;
  op.src = src;
  op.widthBytes = bytes;
  return copy(op, d, s, stream, async, what);
}

/// One side of a CUDA_MEMCPY2D/3D: its address and what kind it must be.
Status side(CUmemorytype type, const void *host, CUdeviceptr device, std::size_t x, std::size_t y,
            std::size_t z, std::size_t pitch, std::size_t height, std::uint64_t *address, Expect *expect) {
  switch (type) {
  case CU_MEMORYTYPE_HOST:
    *address = reinterpret_cast<std::uint64_t>(host);
    *expect = Expect::Host;
    break;
  case CU_MEMORYTYPE_DEVICE:
    *address = device;
    *expect = Expect::Device;
    break;
  case CU_MEMORYTYPE_UNIFIED:
    *address = device;
    *expect = Expect::Any;
    break;
  case CU_MEMORYTYPE_ARRAY: // `device` is the array's base (arrayCopyGeometry)
    *address = device;
    *expect = Expect::Device;
    break;
  default:
    return error(CUDA_ERROR_INVALID_VALUE, "invalid memory type {}", static_cast<int>(type));
  }
  *address += z * pitch * height + y * pitch + x;
  return {};
}

Status copy3D(const CUDA_MEMCPY3D &p, CUstream stream, bool async, const char *what) {
  CopyOp op;
  Expect d, s;
  std::size_t dPitch = p.dstPitch ? p.dstPitch : p.WidthInBytes;
  std::size_t sPitch = p.srcPitch ? p.srcPitch : p.WidthInBytes;
  std::size_t dHeight = p.dstHeight ? p.dstHeight : p.Height;
  std::size_t sHeight = p.srcHeight ? p.srcHeight : p.Height;
  // CUDA arrays (runtime/array.h) are linear device memory with their own pitch.
  std::uint64_t dBase = p.dstDevice, sBase = p.srcDevice;
  if (p.dstMemoryType == CU_MEMORYTYPE_ARRAY)
    CUVIRT_TRY(arrayCopyGeometry(p.dstArray, p.dstXInBytes, p.dstY, p.dstZ, p.WidthInBytes, p.Height, p.Depth,
                                 &dBase, &dPitch, &dHeight, what));
  if (p.srcMemoryType == CU_MEMORYTYPE_ARRAY)
    CUVIRT_TRY(arrayCopyGeometry(p.srcArray, p.srcXInBytes, p.srcY, p.srcZ, p.WidthInBytes, p.Height, p.Depth,
                                 &sBase, &sPitch, &sHeight, what));
  if ((p.Height > 1 || p.Depth > 1) && (dPitch < p.WidthInBytes || sPitch < p.WidthInBytes))
    return error(CUDA_ERROR_INVALID_VALUE, "{}: pitch smaller than the row width", what);
  if (p.Depth > 1 && (dHeight < p.Height || sHeight < p.Height))
    return error(CUDA_ERROR_INVALID_VALUE, "{}: slice height smaller than the copy height", what);
  CUVIRT_TRY(
      side(p.dstMemoryType, p.dstHost, dBase, p.dstXInBytes, p.dstY, p.dstZ, dPitch, dHeight, &op.dst, &d));
  CUVIRT_TRY(
      side(p.srcMemoryType, p.srcHost, sBase, p.srcXInBytes, p.srcY, p.srcZ, sPitch, sHeight, &op.src, &s));
  op.widthBytes = p.WidthInBytes;
  op.height = p.Height;
  op.depth = p.Depth;
  op.dstPitch = dPitch;
  op.srcPitch = sPitch;
  op.dstSliceBytes = dPitch * dHeight;
  op.srcSliceBytes = sPitch * sHeight;
  return copy(op, d, s, stream, async, what);
}

CUDA_MEMCPY3D from2D(const CUDA_MEMCPY2D &p) {
  CUDA_MEMCPY3D q{};
  q.srcXInBytes = p.srcXInBytes;
  q.srcY = p.srcY;
  q.srcMemoryType = p.srcMemoryType;
  q.srcHost = p.srcHost;
  q.srcDevice = p.srcDevice;
  q.srcArray = p.srcArray;
  q.srcPitch = p.srcPitch;
  q.dstXInBytes = p.dstXInBytes;
  q.dstY = p.dstY;
  q.dstMemoryType = p.dstMemoryType;
  q.dstHost = p.dstHost;
  q.dstDevice = p.dstDevice;
  q.dstArray = p.dstArray;
  q.dstPitch = p.dstPitch;
  q.WidthInBytes = p.WidthInBytes;
  q.Height = p.Height;
  q.Depth = 1;
  return q;
}

CUDA_MEMCPY3D from3DPeer(const CUDA_MEMCPY3D_PEER &p) {
  CUDA_MEMCPY3D q{};
  q.srcXInBytes = p.srcXInBytes;
  q.srcY = p.srcY;
  q.srcZ = p.srcZ;
  q.srcMemoryType = p.srcMemoryType;
  q.srcHost = p.srcHost;
  q.srcDevice = p.srcDevice;
  q.srcArray = p.srcArray;
  q.srcPitch = p.srcPitch;
  q.srcHeight = p.srcHeight;
  q.dstXInBytes = p.dstXInBytes;
  q.dstY = p.dstY;
  q.dstZ = p.dstZ;
  q.dstMemoryType = p.dstMemoryType;
  q.dstHost = p.dstHost;
  q.dstDevice = p.dstDevice;
  q.dstArray = p.dstArray;
  q.dstPitch = p.dstPitch;
  q.dstHeight = p.dstHeight;
  q.WidthInBytes = p.WidthInBytes;
  q.Height = p.Height;
  q.Depth = p.Depth;
  return q;
}

Status fill(std::uint64_t dst, std::size_t pitch, std::uint32_t value, unsigned elementSize,
            std::size_t width, std::size_t height, CUstream handle, const char *what) {
  auto s = resolveStream(handle);
  if (!s)
    return s.status();
  if (width == 0 || height == 0)
    return {};
  if (dst % elementSize != 0 || (height > 1 && pitch % elementSize != 0))
    return error(CUDA_ERROR_INVALID_VALUE, "{}: misaligned destination 0x{:x}", what, dst);
  if (height > 1 && pitch < width * elementSize)
    return error(CUDA_ERROR_INVALID_VALUE, "{}: pitch smaller than the row width", what);
  bool host = false, pinned = false;
  CUVIRT_TRY(checkRange(dst, extent(width * elementSize, height, 1, pitch, 0), Expect::Device, true, &host,
                        &pinned, what));
  FillOp op;
  op.dst = dst;
  op.pitch = pitch;
  op.width = width;
  op.height = height;
  op.value = value;
  op.elementSize = elementSize;
  if (capturing(*s))
    return captureFill(*s, op);
  // Memsets are asynchronous to the host (even the "synchronous" ones)
  // unless they target pinned host memory.
  if (host) {
    BackendDevice *device = (*s)->context->device->backend.get();
    return runSynchronously(*s, [&] { return device->fillNow(op); }, [&](Queue &q) { q.fill(op); });
  }
  return submit(*s, [&](Queue &q) { q.fill(op); });
}

} // namespace

namespace api {

CUresult cuMemcpy(CUdeviceptr dst, CUdeviceptr src, size_t n) {
  return copyLinear(dst, src, n, Expect::Any, Expect::Any, nullptr, false, "cuMemcpy");
}
CUresult cuMemcpyAsync(CUdeviceptr dst, CUdeviceptr src, size_t n, CUstream s) {
  return copyLinear(dst, src, n, Expect::Any, Expect::Any, s, true, "cuMemcpyAsync");
}
CUresult cuMemcpyHtoD_v2(CUdeviceptr dst, const void *src, size_t n) {
  return copyLinear(dst, reinterpret_cast<std::uint64_t>(src), n, Expect::Device, Expect::Host, nullptr,
                    false, "cuMemcpyHtoD");
}
CUresult cuMemcpyHtoDAsync_v2(CUdeviceptr dst, const void *src, size_t n, CUstream s) {
  return copyLinear(dst, reinterpret_cast<std::uint64_t>(src), n, Expect::Device, Expect::Host, s, true,
                    "cuMemcpyHtoDAsync");
}
CUresult cuMemcpyDtoH_v2(void *dst, CUdeviceptr src, size_t n) {
  return copyLinear(reinterpret_cast<std::uint64_t>(dst), src, n, Expect::Host, Expect::Device, nullptr,
                    false, "cuMemcpyDtoH");
}
CUresult cuMemcpyDtoHAsync_v2(void *dst, CUdeviceptr src, size_t n, CUstream s) {
  return copyLinear(reinterpret_cast<std::uint64_t>(dst), src, n, Expect::Host, Expect::Device, s, true,
                    "cuMemcpyDtoHAsync");
}
CUresult cuMemcpyDtoD_v2(CUdeviceptr dst, CUdeviceptr src, size_t n) {
  // Device-to-device copies are asynchronous to the host in CUDA.
  return copyLinear(dst, src, n, Expect::Device, Expect::Device, nullptr, true, "cuMemcpyDtoD");
}
CUresult cuMemcpyDtoDAsync_v2(CUdeviceptr dst, CUdeviceptr src, size_t n, CUstream s) {
  return copyLinear(dst, src, n, Expect::Device, Expect::Device, s, true, "cuMemcpyDtoDAsync");
}
CUresult cuMemcpyPeer(CUdeviceptr dst, CUcontext dstCtx, CUdeviceptr src, CUcontext srcCtx, size_t n) {
  if (auto c = checkContext(dstCtx); !c)
    return c.status();
  if (auto c = checkContext(srcCtx); !c)
    return c.status();
  return copyLinear(dst, src, n, Expect::Device, Expect::Device, nullptr, false, "cuMemcpyPeer");
}
CUresult cuMemcpyPeerAsync(CUdeviceptr dst, CUcontext dstCtx, CUdeviceptr src, CUcontext srcCtx, size_t n,
                           CUstream s) {
  if (auto c = checkContext(dstCtx); !c)
    return c.status();
  if (auto c = checkContext(srcCtx); !c)
    return c.status();
  return copyLinear(dst, src, n, Expect::Device, Expect::Device, s, true, "cuMemcpyPeerAsync");
}
CUresult cuMemcpy2D_v2(const CUDA_MEMCPY2D *p) {
  if (p == nullptr)
    return CUDA_ERROR_INVALID_VALUE;
  return copy3D(from2D(*p), nullptr, false, "cuMemcpy2D");
}
CUresult cuMemcpy2DUnaligned_v2(const CUDA_MEMCPY2D *p) {
  if (p == nullptr)
    return CUDA_ERROR_INVALID_VALUE;
  return copy3D(from2D(*p), nullptr, false, "cuMemcpy2DUnaligned");
}
CUresult cuMemcpy2DAsync_v2(const CUDA_MEMCPY2D *p, CUstream s) {
  if (p == nullptr)
    return CUDA_ERROR_INVALID_VALUE;
  return copy3D(from2D(*p), s, true, "cuMemcpy2DAsync");
}
CUresult cuMemcpy3D_v2(const CUDA_MEMCPY3D *p) {
  if (p == nullptr)
    return CUDA_ERROR_INVALID_VALUE;
  return copy3D(*p, nullptr, false, "cuMemcpy3D");
}
CUresult cuMemcpy3DAsync_v2(const CUDA_MEMCPY3D *p, CUstream s) {
  if (p == nullptr)
    return CUDA_ERROR_INVALID_VALUE;
  return copy3D(*p, s, true, "cuMemcpy3DAsync");
}
CUresult cuMemcpy3DPeer(const CUDA_MEMCPY3D_PEER *p) {
  if (p == nullptr)
    return CUDA_ERROR_INVALID_VALUE;
  return copy3D(from3DPeer(*p), nullptr, false, "cuMemcpy3DPeer");
}
CUresult cuMemcpy3DPeerAsync(const CUDA_MEMCPY3D_PEER *p, CUstream s) {
  if (p == nullptr)
    return CUDA_ERROR_INVALID_VALUE;
  return copy3D(from3DPeer(*p), s, true, "cuMemcpy3DPeerAsync");
}

CUresult cuMemsetD8_v2(CUdeviceptr d, unsigned char v, size_t n) {
  return fill(d, 0, v, 1, n, 1, nullptr, "cuMemsetD8");
}
CUresult cuMemsetD16_v2(CUdeviceptr d, unsigned short v, size_t n) {
  return fill(d, 0, v, 2, n, 1, nullptr, "cuMemsetD16");
}
CUresult cuMemsetD32_v2(CUdeviceptr d, unsigned int v, size_t n) {
  return fill(d, 0, v, 4, n, 1, nullptr, "cuMemsetD32");
}
CUresult cuMemsetD8Async(CUdeviceptr d, unsigned char v, size_t n, CUstream s) {
  return fill(d, 0, v, 1, n, 1, s, "cuMemsetD8Async");
}
CUresult cuMemsetD16Async(CUdeviceptr d, unsigned short v, size_t n, CUstream s) {
  return fill(d, 0, v, 2, n, 1, s, "cuMemsetD16Async");
}
CUresult cuMemsetD32Async(CUdeviceptr d, unsigned int v, size_t n, CUstream s) {
  return fill(d, 0, v, 4, n, 1, s, "cuMemsetD32Async");
}
CUresult cuMemsetD2D8_v2(CUdeviceptr d, size_t pitch, unsigned char v, size_t w, size_t h) {
  return fill(d, pitch, v, 1, w, h, nullptr, "cuMemsetD2D8");
}
CUresult cuMemsetD2D16_v2(CUdeviceptr d, size_t pitch, unsigned short v, size_t w, size_t h) {
  return fill(d, pitch, v, 2, w, h, nullptr, "cuMemsetD2D16");
}
CUresult cuMemsetD2D32_v2(CUdeviceptr d, size_t pitch, unsigned int v, size_t w, size_t h) {
  return fill(d, pitch, v, 4, w, h, nullptr, "cuMemsetD2D32");
}
CUresult cuMemsetD2D8Async(CUdeviceptr d, size_t pitch, unsigned char v, size_t w, size_t h, CUstream s) {
  return fill(d, pitch, v, 1, w, h, s, "cuMemsetD2D8Async");
}
CUresult cuMemsetD2D16Async(CUdeviceptr d, size_t pitch, unsigned short v, size_t w, size_t h, CUstream s) {
  return fill(d, pitch, v, 2, w, h, s, "cuMemsetD2D16Async");
}
CUresult cuMemsetD2D32Async(CUdeviceptr d, size_t pitch, unsigned int v, size_t w, size_t h, CUstream s) {
  return fill(d, pitch, v, 4, w, h, s, "cuMemsetD2D32Async");
}

} // namespace api
} // namespace cuvirt

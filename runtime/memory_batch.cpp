// Batched memory calls (CUDA 12.8+): cuMemcpyBatchAsync, cuMemcpy3DBatchAsync,
// cuMemPrefetchBatchAsync; and the managed-memory calls built on the single
// forms: cuMemRangeGetAttributes, cuStreamAttachMemAsync.
#include "cuvirt_api.h"
#include "runtime/api_support.h"
#include "runtime/array.h"
#include "runtime/runtime.h"
#include <limits>

namespace cuvirt {
namespace {

/// attrsIdxs: starts at 0, strictly increasing, below `count`.
Status checkIndexList(const std::size_t *idxs, std::size_t n, std::size_t count, const char *what) {
  if (n == 0 || n > count || idxs == nullptr || idxs[0] != 0)
    return error(CUDA_ERROR_INVALID_VALUE,
                 "{}: {} attribute entries for {} operations (first index must be 0)", what, n, count);
  for (std::size_t i = 1; i < n; ++i)
    if (idxs[i] <= idxs[i - 1] || idxs[i] >= count)
      return error(CUDA_ERROR_INVALID_VALUE, "{}: attribute indices must increase and stay below {}", what,
                   count);
  return {};
}

/// The entry of a (idxs, n) list that covers operation `op`.
std::size_t entryFor(const std::size_t *idxs, std::size_t n, std::size_t op) {
  std::size_t k = 0;
  while (k + 1 < n && idxs[k + 1] <= op)
    ++k;
  return k;
}

bool validOrder(CUmemcpySrcAccessOrder order) {
  return order == CU_MEMCPY_SRC_ACCESS_ORDER_STREAM || order == CU_MEMCPY_SRC_ACCESS_ORDER_DURING_API_CALL ||
         order == CU_MEMCPY_SRC_ACCESS_ORDER_ANY;
}

/// The batch calls refuse the legacy NULL stream, as CUDA's do.
Status checkBatchStream(CUstream stream, const char *what) {
  if (stream == nullptr && !perThreadDefaultStream())
    return error(CUDA_ERROR_INVALID_VALUE, "{}: the legacy NULL stream is not allowed", what);
  if (stream == CU_STREAM_LEGACY)
    return error(CUDA_ERROR_INVALID_VALUE, "{}: the legacy NULL stream is not allowed", what);
  auto s = resolveStream(stream);
  return s ? Status() : s.status();
}

Status memcpyBatch(CUdeviceptr *dsts, CUdeviceptr *srcs, size_t *sizes, size_t count,
                   CUmemcpyAttributes *attrs, size_t *attrsIdxs, size_t numAttrs, size_t *failIdx,
                   CUstream stream) {
  const char *what = "cuMemcpyBatchAsync";
  if (failIdx != nullptr)
    *failIdx = std::numeric_limits<std::size_t>::max();
  if (dsts == nullptr || srcs == nullptr || sizes == nullptr || count == 0 || attrs == nullptr)
    return error(CUDA_ERROR_INVALID_VALUE, "{}: missing arrays or empty batch", what);
  CUVIRT_TRY(checkBatchStream(stream, what));
  CUVIRT_TRY(checkIndexList(attrsIdxs, numAttrs, count, what));
  for (std::size_t k = 0; k < numAttrs; ++k)
    if (!validOrder(attrs[k].srcAccessOrder))
      return error(CUDA_ERROR_INVALID_VALUE, "{}: attribute {} has no valid source access order", what, k);
  bool duringCall = false;
  for (std::size_t i = 0; i < count; ++i) {
    const CUmemcpyAttributes &a = attrs[entryFor(attrsIdxs, numAttrs, i)];
    duringCall |= a.srcAccessOrder == CU_MEMCPY_SRC_ACCESS_ORDER_DURING_API_CALL;
    if (CUresult r = api::cuMemcpyAsync(dsts[i], srcs[i], sizes[i], stream); r != CUDA_SUCCESS) {
      if (failIdx != nullptr)
        *failIdx = i;
      return r;
    }
  }
  // Sources read "during the API call" may be gone once it returns.
  if (duringCall)
    return api::cuStreamSynchronize(stream);
  return {};
}

/// One operand of a 3-D batch copy as a side of a CUDA_MEMCPY3D.
Status operand(const CUmemcpy3DOperand &o, unsigned elementBytes, bool isSrc, CUDA_MEMCPY3D &p) {
  auto &type = isSrc ? p.srcMemoryType : p.dstMemoryType;
  if (o.type == CU_MEMCPY_OPERAND_TYPE_POINTER) {
    type = CU_MEMORYTYPE_UNIFIED;
    (isSrc ? p.srcDevice : p.dstDevice) = o.op.ptr.ptr;
    const std::size_t row = o.op.ptr.rowLength != 0 ? o.op.ptr.rowLength : p.WidthInBytes / elementBytes;
    if (row * elementBytes < p.WidthInBytes || (o.op.ptr.layerHeight != 0 && o.op.ptr.layerHeight < p.Height))
      return error(CUDA_ERROR_INVALID_VALUE,
                   "cuMemcpy3DBatchAsync: row length or layer height below the extent");
    (isSrc ? p.srcPitch : p.dstPitch) = row * elementBytes;
    (isSrc ? p.srcHeight : p.dstHeight) = o.op.ptr.layerHeight != 0 ? o.op.ptr.layerHeight : p.Height;
    return {};
  }
  if (o.type == CU_MEMCPY_OPERAND_TYPE_ARRAY) {
    type = CU_MEMORYTYPE_ARRAY;
    (isSrc ? p.srcArray : p.dstArray) = o.op.array.array;
    (isSrc ? p.srcXInBytes : p.dstXInBytes) = o.op.array.offset.x * elementBytes;
    (isSrc ? p.srcY : p.dstY) = o.op.array.offset.y;
    (isSrc ? p.srcZ : p.dstZ) = o.op.array.offset.z;
    return {};
  }
  return error(CUDA_ERROR_INVALID_VALUE, "cuMemcpy3DBatchAsync: unknown operand type {}",
               static_cast<int>(o.type));
}

Status memcpy3DBatch(size_t numOps, CUDA_MEMCPY3D_BATCH_OP *ops, size_t *failIdx, unsigned long long flags,
                     CUstream stream) {
  const char *what = "cuMemcpy3DBatchAsync";
  if (failIdx != nullptr)
    *failIdx = std::numeric_limits<std::size_t>::max();
  if (ops == nullptr || numOps == 0 || flags != 0)
    return error(CUDA_ERROR_INVALID_VALUE, "{}: empty batch or flags 0x{:x}", what, flags);
  CUVIRT_TRY(checkBatchStream(stream, what));
  bool duringCall = false;
  for (std::size_t i = 0; i < numOps; ++i) {
    const CUDA_MEMCPY3D_BATCH_OP &op = ops[i];
    auto fail = [&](Status s) {
      if (failIdx != nullptr)
        *failIdx = i;
      return s;
    };
    if (!validOrder(op.srcAccessOrder) || op.extent.width == 0 || op.extent.height == 0 ||
        op.extent.depth == 0)
      return fail(
          error(CUDA_ERROR_INVALID_VALUE, "{}: operation {}: empty extent or no access order", what, i));
    duringCall |= op.srcAccessOrder == CU_MEMCPY_SRC_ACCESS_ORDER_DURING_API_CALL;
    // Elements are bytes between pointers, else the array's element size
    // (both arrays' must match).
    unsigned elementBytes = 1;
    for (const CUmemcpy3DOperand *o : {&op.src, &op.dst})
      if (o->type == CU_MEMCPY_OPERAND_TYPE_ARRAY) {
        auto a = checkArray(o->op.array.array);
        if (!a)
          return fail(a.status());
        if (elementBytes != 1 && elementBytes != (*a)->elementBytes)
          return fail(error(CUDA_ERROR_INVALID_VALUE, "{}: operation {}: arrays of different element sizes",
                            what, i));
        elementBytes = (*a)->elementBytes;
      }
    CUDA_MEMCPY3D p{};
    p.WidthInBytes = op.extent.width * elementBytes;
    p.Height = op.extent.height;
    p.Depth = op.extent.depth;
    if (Status s = operand(op.src, elementBytes, true, p); !s.ok())
      return fail(s);
    if (Status s = operand(op.dst, elementBytes, false, p); !s.ok())
      return fail(s);
    if (CUresult r = api::cuMemcpy3DAsync_v2(&p, stream); r != CUDA_SUCCESS)
      return fail(r);
  }
  if (duringCall)
    return api::cuStreamSynchronize(stream);
  return {};
}

} // namespace

namespace api {

CUresult cuMemcpyBatchAsync_v2(CUdeviceptr *dsts, CUdeviceptr *srcs, size_t *sizes, size_t count,
                               CUmemcpyAttributes *attrs, size_t *attrsIdxs, size_t numAttrs,
                               CUstream hStream) {
  return memcpyBatch(dsts, srcs, sizes, count, attrs, attrsIdxs, numAttrs, nullptr, hStream);
}

CUresult cuMemcpyBatchAsync(CUdeviceptr *dsts, CUdeviceptr *srcs, size_t *sizes, size_t count,
                            CUmemcpyAttributes *attrs, size_t *attrsIdxs, size_t numAttrs, size_t *failIdx,
                            CUstream hStream) {
  return memcpyBatch(dsts, srcs, sizes, count, attrs, attrsIdxs, numAttrs, failIdx, hStream);
}

CUresult cuMemcpy3DBatchAsync_v2(size_t numOps, CUDA_MEMCPY3D_BATCH_OP *opList, unsigned long long flags,
                                 CUstream hStream) {
  return memcpy3DBatch(numOps, opList, nullptr, flags, hStream);
}

CUresult cuMemcpy3DBatchAsync(size_t numOps, CUDA_MEMCPY3D_BATCH_OP *opList, size_t *failIdx,
                              unsigned long long flags, CUstream hStream) {
  return memcpy3DBatch(numOps, opList, failIdx, flags, hStream);
}

CUresult cuMemPrefetchBatchAsync(CUdeviceptr *dptrs, size_t *sizes, size_t count, CUmemLocation *prefetchLocs,
                                 size_t *prefetchLocIdxs, size_t numPrefetchLocs, unsigned long long flags,
                                 CUstream hStream) {
  const char *what = "cuMemPrefetchBatchAsync";
  if (dptrs == nullptr || sizes == nullptr || count == 0 || prefetchLocs == nullptr || flags != 0)
    return error(CUDA_ERROR_INVALID_VALUE, "{}: missing arrays, empty batch or flags 0x{:x}", what, flags);
  if (Status s = checkIndexList(prefetchLocIdxs, numPrefetchLocs, count, what); !s.ok())
    return s;
  for (std::size_t i = 0; i < count; ++i) {
    const CUmemLocation &loc = prefetchLocs[entryFor(prefetchLocIdxs, numPrefetchLocs, i)];
    if (CUresult r = api::cuMemPrefetchAsync_v2(dptrs[i], sizes[i], loc, 0, hStream); r != CUDA_SUCCESS)
      return r;
  }
  return CUDA_SUCCESS;
}

CUresult cuMemRangeGetAttributes(void **data, size_t *dataSizes, CUmem_range_attribute *attributes,
                                 size_t numAttributes, CUdeviceptr devPtr, size_t count) {
  if (data == nullptr || dataSizes == nullptr || attributes == nullptr || numAttributes == 0)
    return CUDA_ERROR_INVALID_VALUE;
  for (std::size_t i = 0; i < numAttributes; ++i)
    if (CUresult r = api::cuMemRangeGetAttribute(data[i], dataSizes[i], attributes[i], devPtr, count);
        r != CUDA_SUCCESS)
      return r;
  return CUDA_SUCCESS;
}

CUresult cuStreamAttachMemAsync(CUstream hStream, CUdeviceptr dptr, size_t length, unsigned int flags) {
  if (flags != CU_MEM_ATTACH_GLOBAL && flags != CU_MEM_ATTACH_HOST && flags != CU_MEM_ATTACH_SINGLE)
    return error(CUDA_ERROR_INVALID_VALUE, "cuStreamAttachMemAsync: unknown flags 0x{:x}", flags);
  auto s = resolveStream(hStream);
  if (!s)
    return s.status();
  // Attaching to one stream needs a stream other than the legacy one.
  if (flags == CU_MEM_ATTACH_SINGLE && (*s)->kind == Stream::Kind::Legacy)
    return error(CUDA_ERROR_INVALID_VALUE, "cuStreamAttachMemAsync: CU_MEM_ATTACH_SINGLE on the NULL stream");
  auto *rt = *runtime();
  std::unique_lock lock(rt->allocationsMutex);
  auto it = rt->allocations.find(dptr);
  if (it == rt->allocations.end() || it->second.kind != MemKind::Managed)
    return error(CUDA_ERROR_INVALID_VALUE,
                 "cuStreamAttachMemAsync: 0x{:x} is not the start of managed memory", dptr);
  if (length != 0 && length != it->second.size)
    return error(CUDA_ERROR_INVALID_VALUE,
                 "cuStreamAttachMemAsync: length {} must be 0 or the allocation's {}", length,
                 it->second.size);
  // Recorded (cuMemHostGetFlags-style bookkeeping); with
  // CONCURRENT_MANAGED_ACCESS the host and every stream may touch the memory
  // at any time anyway, so nothing else changes.
  it->second.flags = flags;
  return CUDA_SUCCESS;
}

} // namespace api
} // namespace cuvirt

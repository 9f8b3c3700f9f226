// CUDA arrays and mipmapped arrays: creation with CUDA's validation,
// descriptors, and the array copies (cuMemcpy[HtoA|AtoH|AtoD|DtoA|AtoA]).
// Arrays are linear device memory (array.h), so 2-D/3-D copies to and from
// them are the ordinary pitched copies of copy.cpp.
#include "runtime/array.h"
#include "cuvirt_api.h"
#include "runtime/api_support.h"
#include "runtime/texture_abi.h"
#include <algorithm>
#include <cstring>

namespace cuvirt {
namespace {

HandleSet<Array> g_arrays;
HandleSet<MipmappedArray> g_mipmapped;

constexpr unsigned kKnownFlags = CUDA_ARRAY3D_LAYERED | CUDA_ARRAY3D_SURFACE_LDST | CUDA_ARRAY3D_CUBEMAP |
                                 CUDA_ARRAY3D_TEXTURE_GATHER | CUDA_ARRAY3D_DEPTH_TEXTURE |
                                 CUDA_ARRAY3D_COLOR_ATTACHMENT | CUDA_ARRAY3D_SPARSE |
                                 CUDA_ARRAY3D_DEFERRED_MAPPING | CUDA_ARRAY3D_VIDEO_ENCODE_DECODE;

int attribute(Device *d, CUdevice_attribute a) { return d->props().attributes[a]; }

/// CUDA's rules for a CUDA_ARRAY3D_DESCRIPTOR on `device` (cuArray3DCreate).
Status validate(const CUDA_ARRAY3D_DESCRIPTOR &d, Device *device, const char *what) {
  if (formatBytes(d.Format) == 0)
    return error(CUDA_ERROR_INVALID_VALUE, "{}: unsupported array format 0x{:x}", what, unsigned(d.Format));
  if (d.NumChannels != 1 && d.NumChannels != 2 && d.NumChannels != 4)
    return error(CUDA_ERROR_INVALID_VALUE, "{}: {} channels (1, 2 or 4)", what, d.NumChannels);
  if ((d.Flags & ~kKnownFlags) != 0)
    return error(CUDA_ERROR_INVALID_VALUE, "{}: unknown flags 0x{:x}", what, d.Flags);
  if ((d.Flags & (CUDA_ARRAY3D_SPARSE | CUDA_ARRAY3D_DEFERRED_MAPPING | CUDA_ARRAY3D_VIDEO_ENCODE_DECODE)) !=
      0)
    return error(CUDA_ERROR_NOT_SUPPORTED, "{}: sparse, deferred-mapping and video arrays are not supported",
                 what);
  const bool layered = d.Flags & CUDA_ARRAY3D_LAYERED, cube = d.Flags & CUDA_ARRAY3D_CUBEMAP;
  const std::size_t w = d.Width, h = d.Height, z = d.Depth;
  auto fits = [&](std::size_t v, CUdevice_attribute a) {
    return v >= 1 && v <= std::size_t(attribute(device, a));
  };
  bool ok = false;
  if (cube) {
    const std::size_t maxLayers =
        layered ? attribute(device, CU_DEVICE_ATTRIBUTE_MAXIMUM_TEXTURECUBEMAP_LAYERED_LAYERS) : 6;
    ok = w == h && fits(w, CU_DEVICE_ATTRIBUTE_MAXIMUM_TEXTURECUBEMAP_WIDTH) &&
         (layered ? z >= 6 && z % 6 == 0 && z <= maxLayers : z == 6);
  } else if (layered) {
    if (h == 0)
      ok = fits(w, CU_DEVICE_ATTRIBUTE_MAXIMUM_TEXTURE1D_LAYERED_WIDTH) &&
           fits(z, CU_DEVICE_ATTRIBUTE_MAXIMUM_TEXTURE1D_LAYERED_LAYERS);
    else
      ok = fits(w, CU_DEVICE_ATTRIBUTE_MAXIMUM_TEXTURE2D_LAYERED_WIDTH) &&
           fits(h, CU_DEVICE_ATTRIBUTE_MAXIMUM_TEXTURE2D_LAYERED_HEIGHT) &&
           fits(z, CU_DEVICE_ATTRIBUTE_MAXIMUM_TEXTURE2D_LAYERED_LAYERS);
  } else if (h == 0) {
    ok = z == 0 && fits(w, CU_DEVICE_ATTRIBUTE_MAXIMUM_TEXTURE1D_WIDTH);
  } else if (z == 0) {
    ok = fits(w, CU_DEVICE_ATTRIBUTE_MAXIMUM_TEXTURE2D_WIDTH) &&
         fits(h, CU_DEVICE_ATTRIBUTE_MAXIMUM_TEXTURE2D_HEIGHT);
  } else {
    ok = fits(w, CU_DEVICE_ATTRIBUTE_MAXIMUM_TEXTURE3D_WIDTH) &&
         fits(h, CU_DEVICE_ATTRIBUTE_MAXIMUM_TEXTURE3D_HEIGHT) &&
         fits(z, CU_DEVICE_ATTRIBUTE_MAXIMUM_TEXTURE3D_DEPTH);
  }
  if (!ok)
    return error(CUDA_ERROR_INVALID_VALUE, "{}: invalid extent {}x{}x{} for flags 0x{:x}", what, w, h, z,
                 d.Flags);
  // Gather needs a plain 2-D array.
  if ((d.Flags & CUDA_ARRAY3D_TEXTURE_GATHER) && (layered || cube || h == 0 || z != 0))
    return error(CUDA_ERROR_INVALID_VALUE, "{}: texture gather needs a 2-D array", what);
  return {};
}

/// Allocates an array's memory and registers it.
Expected<Array *> makeArray(Context *c, const CUDA_ARRAY3D_DESCRIPTOR &d, MipmappedArray *parent) {
  auto a = std::make_unique<Array>();
  a->context = c;
  a->device = c->device;
  a->desc = d;
  a->parent = parent;
  a->elementBytes = formatBytes(d.Format) * d.NumChannels;
  a->width = d.Width;
  a->height = std::max<std::size_t>(d.Height, 1);
  a->depth = std::max<std::size_t>(d.Depth, 1);
  a->pitch = a->width * a->elementBytes;
  a->slicePitch = a->pitch * a->height;
  a->bytes = a->slicePitch * a->depth;
  auto p = allocateDevice(c->device, c, a->bytes, MemKind::Device);
  if (!p)
    return p.status();
  a->address = *p;
  g_arrays.add(a.get());
  return a.release();
}

void destroyArray(Array *a) {
  g_arrays.remove(a);
  // As cuMemFree: wait for work that may still read the array. A destroyed
  // context has freed the memory already (the address may be reused).
  if ((*runtime())->contexts.contains(a->context)) {
    (void)synchronizeContext(a->context);
    if (findAllocation(a->address))
      (void)freeDevice(a->address);
  }
  delete a;
}

CUDA_ARRAY3D_DESCRIPTOR from2D(const CUDA_ARRAY_DESCRIPTOR &d) {
  CUDA_ARRAY3D_DESCRIPTOR q{};
  q.Width = d.Width;
  q.Height = d.Height;
  q.Format = d.Format;
  q.NumChannels = d.NumChannels;
  return q;
}

Status create(CUarray *handle, const CUDA_ARRAY3D_DESCRIPTOR &d, const char *what) {
  if (handle == nullptr)
    return error(CUDA_ERROR_INVALID_VALUE, "{}: NULL handle pointer", what);
  auto c = requireContext();
  if (!c)
    return c.status();
  CUVIRT_TRY(validate(d, (*c)->device, what));
  auto a = makeArray(*c, d, nullptr);
  if (!a)
    return a.status();
  *handle = reinterpret_cast<CUarray>(*a);
  return {};
}

/// A linear copy of `bytes` at byte `offset` of an array, with bounds checked.
Expected<std::uint64_t> arrayRange(CUarray handle, std::size_t offset, std::size_t bytes, const char *what) {
  auto a = checkArray(handle);
  if (!a)
    return a.status();
  if (offset > (*a)->bytes || bytes > (*a)->bytes - offset)
    return error(CUDA_ERROR_INVALID_VALUE, "{}: {} bytes at offset {} run past the array's {} bytes", what,
                 bytes, offset, (*a)->bytes);
  return (*a)->address + offset;
}

/// A 1-D copy expressed as a 3-D one, so it takes copy.cpp's path (streams,
/// pinned-memory rules).
CUresult linearCopy(CUmemorytype dstType, std::uint64_t dst, CUmemorytype srcType, std::uint64_t src,
                    std::size_t bytes, CUstream stream, bool async) {
  CUDA_MEMCPY3D p{};
  p.dstMemoryType = dstType;
  p.srcMemoryType = srcType;
  if (dstType == CU_MEMORYTYPE_HOST)
    p.dstHost = reinterpret_cast<void *>(dst);
  else
    p.dstDevice = dst;
  if (srcType == CU_MEMORYTYPE_HOST)
    p.srcHost = reinterpret_cast<const void *>(src);
  else
    p.srcDevice = src;
  p.WidthInBytes = bytes;
  p.Height = 1;
  p.Depth = 1;
  return async ? api::cuMemcpy3DAsync_v2(&p, stream) : api::cuMemcpy3D_v2(&p);
}

} // namespace

unsigned formatBytes(CUarray_format format) {
  switch (format) {
  case CU_AD_FORMAT_UNSIGNED_INT8:
  case CU_AD_FORMAT_SIGNED_INT8:
    return 1;
  case CU_AD_FORMAT_UNSIGNED_INT16:
  case CU_AD_FORMAT_SIGNED_INT16:
  case CU_AD_FORMAT_HALF:
    return 2;
  case CU_AD_FORMAT_UNSIGNED_INT32:
  case CU_AD_FORMAT_SIGNED_INT32:
  case CU_AD_FORMAT_FLOAT:
    return 4;
  default:
    return 0;
  }
}

Expected<Array *> checkArray(CUarray handle) {
  Array *a = g_arrays.find(handle);
  if (a == nullptr)
    return error(CUDA_ERROR_INVALID_HANDLE, "invalid CUDA array handle {}",
                 static_cast<const void *>(handle));
  if (!(*runtime())->contexts.contains(a->context) || !findAllocation(a->address))
    return error(CUDA_ERROR_INVALID_HANDLE, "CUDA array {} belongs to a destroyed context",
                 static_cast<const void *>(handle));
  return a;
}

Expected<MipmappedArray *> checkMipmappedArray(CUmipmappedArray handle) {
  MipmappedArray *m = g_mipmapped.find(handle);
  if (m == nullptr)
    return error(CUDA_ERROR_INVALID_HANDLE, "invalid mipmapped array handle {}",
                 static_cast<const void *>(handle));
  return m;
}

Status arrayCopyGeometry(CUarray handle, std::size_t x, std::size_t y, std::size_t z, std::size_t widthBytes,
                         std::size_t height, std::size_t depth, std::uint64_t *base, std::size_t *pitch,
                         std::size_t *sliceHeight, const char *what) {
  auto a = checkArray(handle);
  if (!a)
    return a.status();
  const Array &r = **a;
  if (x % r.elementBytes != 0 || widthBytes % r.elementBytes != 0)
    return error(CUDA_ERROR_INVALID_VALUE, "{}: array offset/width not a multiple of the {}-byte element",
                 what, r.elementBytes);
  if (x + widthBytes > r.pitch || y + height > r.height || z + depth > r.depth)
    return error(CUDA_ERROR_INVALID_VALUE, "{}: the copy runs past the array's {}x{}x{} elements", what,
                 r.width, r.height, r.depth);
  *base = r.address;
  *pitch = r.pitch;
  *sliceHeight = r.height;
  return {};
}

namespace api {

CUresult cuArray3DCreate_v2(CUarray *handle, const CUDA_ARRAY3D_DESCRIPTOR *d) {
  if (d == nullptr)
    return CUDA_ERROR_INVALID_VALUE;
  return create(handle, *d, "cuArray3DCreate");
}
CUresult cuArrayCreate_v2(CUarray *handle, const CUDA_ARRAY_DESCRIPTOR *d) {
  if (d == nullptr)
    return CUDA_ERROR_INVALID_VALUE;
  if (d->Width == 0)
    return error(CUDA_ERROR_INVALID_VALUE, "cuArrayCreate: zero width");
  return create(handle, from2D(*d), "cuArrayCreate");
}
CUresult cuArrayCreate(CUarray *handle, const CUDA_ARRAY_DESCRIPTOR_v1 *d) {
  if (d == nullptr)
    return CUDA_ERROR_INVALID_VALUE;
  CUDA_ARRAY_DESCRIPTOR q{d->Width, d->Height, d->Format, d->NumChannels};
  return api::cuArrayCreate_v2(handle, &q);
}
CUresult cuArray3DCreate(CUarray *handle, const CUDA_ARRAY3D_DESCRIPTOR_v1 *d) {
  if (d == nullptr)
    return CUDA_ERROR_INVALID_VALUE;
  CUDA_ARRAY3D_DESCRIPTOR q{d->Width, d->Height, d->Depth, d->Format, d->NumChannels, d->Flags};
  return api::cuArray3DCreate_v2(handle, &q);
}

CUresult cuArrayDestroy(CUarray handle) {
  auto a = checkArray(handle);
  if (!a)
    return a.status();
  if ((*a)->parent != nullptr)
    return error(CUDA_ERROR_INVALID_VALUE,
                 "cuArrayDestroy: a mipmap level is destroyed with its mipmapped array");
  destroyArray(*a);
  return CUDA_SUCCESS;
}

CUresult cuArray3DGetDescriptor_v2(CUDA_ARRAY3D_DESCRIPTOR *out, CUarray handle) {
  if (out == nullptr)
    return CUDA_ERROR_INVALID_VALUE;
  auto a = checkArray(handle);
  if (!a)
    return a.status();
  *out = (*a)->desc;
  return CUDA_SUCCESS;
}
CUresult cuArrayGetDescriptor_v2(CUDA_ARRAY_DESCRIPTOR *out, CUarray handle) {
  if (out == nullptr)
    return CUDA_ERROR_INVALID_VALUE;
  auto a = checkArray(handle);
  if (!a)
    return a.status();
  const CUDA_ARRAY3D_DESCRIPTOR &d = (*a)->desc;
  // CUDA: INVALID_VALUE for arrays that a 2-D descriptor cannot describe.
  if (d.Depth != 0 || d.Flags != 0)
    return error(CUDA_ERROR_INVALID_VALUE, "cuArrayGetDescriptor: a 3-D, layered or cubemap array");
  *out = CUDA_ARRAY_DESCRIPTOR{d.Width, d.Height, d.Format, d.NumChannels};
  return CUDA_SUCCESS;
}
CUresult cuArrayGetDescriptor(CUDA_ARRAY_DESCRIPTOR_v1 *out, CUarray handle) {
  if (out == nullptr)
    return CUDA_ERROR_INVALID_VALUE;
  CUDA_ARRAY_DESCRIPTOR d{};
  if (CUresult r = api::cuArrayGetDescriptor_v2(&d, handle); r != CUDA_SUCCESS)
    return r;
  *out = CUDA_ARRAY_DESCRIPTOR_v1{unsigned(d.Width), unsigned(d.Height), d.Format, d.NumChannels};
  return CUDA_SUCCESS;
}
CUresult cuArray3DGetDescriptor(CUDA_ARRAY3D_DESCRIPTOR_v1 *out, CUarray handle) {
  if (out == nullptr)
    return CUDA_ERROR_INVALID_VALUE;
  CUDA_ARRAY3D_DESCRIPTOR d{};
  if (CUresult r = api::cuArray3DGetDescriptor_v2(&d, handle); r != CUDA_SUCCESS)
    return r;
  *out = CUDA_ARRAY3D_DESCRIPTOR_v1{unsigned(d.Width), unsigned(d.Height), unsigned(d.Depth),
                                    d.Format,          d.NumChannels,      d.Flags};
  return CUDA_SUCCESS;
}

CUresult cuArrayGetMemoryRequirements(CUDA_ARRAY_MEMORY_REQUIREMENTS *out, CUarray handle, CUdevice device) {
  if (out == nullptr)
    return CUDA_ERROR_INVALID_VALUE;
  auto a = checkArray(handle);
  if (!a)
    return a.status();
  auto d = deviceByOrdinal(device);
  if (!d)
    return d.status();
  *out = CUDA_ARRAY_MEMORY_REQUIREMENTS{};
  out->size = (*a)->bytes;
  out->alignment = std::size_t(attribute(*d, CU_DEVICE_ATTRIBUTE_TEXTURE_ALIGNMENT));
  return CUDA_SUCCESS;
}

CUresult cuMipmappedArrayCreate(CUmipmappedArray *handle, const CUDA_ARRAY3D_DESCRIPTOR *d, unsigned levels) {
  if (handle == nullptr || d == nullptr || levels == 0)
    return CUDA_ERROR_INVALID_VALUE;
  auto c = requireContext();
  if (!c)
    return c.status();
  CUVIRT_TRY(validate(*d, (*c)->device, "cuMipmappedArrayCreate"));
  const bool layered = d->Flags & (CUDA_ARRAY3D_LAYERED | CUDA_ARRAY3D_CUBEMAP);
  // No more levels than the largest extent allows (down to 1x1x1).
  std::size_t largest = std::max<std::size_t>({d->Width, d->Height, layered ? 0 : d->Depth});
  unsigned maxLevels = 1;
  while ((largest >>= 1) != 0)
    ++maxLevels;
  if (levels > maxLevels || levels > tex::kMaxLevels)
    return error(CUDA_ERROR_INVALID_VALUE, "cuMipmappedArrayCreate: {} levels for a {}x{}x{} array", levels,
                 d->Width, d->Height, d->Depth);
  auto m = std::make_unique<MipmappedArray>();
  m->context = *c;
  m->desc = *d;
  for (unsigned l = 0; l < levels; ++l) {
    CUDA_ARRAY3D_DESCRIPTOR ld = *d;
    ld.Width = std::max<std::size_t>(d->Width >> l, 1);
    if (d->Height != 0)
      ld.Height = std::max<std::size_t>(d->Height >> l, 1);
    if (d->Depth != 0 && !layered)
      ld.Depth = std::max<std::size_t>(d->Depth >> l, 1);
    auto a = makeArray(*c, ld, m.get());
    if (!a) {
      for (Array *x : m->levels)
        destroyArray(x);
      return a.status();
    }
    m->levels.push_back(*a);
  }
  g_mipmapped.add(m.get());
  *handle = reinterpret_cast<CUmipmappedArray>(m.release());
  return CUDA_SUCCESS;
}

CUresult cuMipmappedArrayGetLevel(CUarray *out, CUmipmappedArray handle, unsigned level) {
  if (out == nullptr)
    return CUDA_ERROR_INVALID_VALUE;
  auto m = checkMipmappedArray(handle);
  if (!m)
    return m.status();
  if (level >= (*m)->levels.size())
    return error(CUDA_ERROR_INVALID_VALUE, "cuMipmappedArrayGetLevel: level {} of {}", level,
                 (*m)->levels.size());
  *out = reinterpret_cast<CUarray>((*m)->levels[level]);
  return CUDA_SUCCESS;
}

CUresult cuMipmappedArrayDestroy(CUmipmappedArray handle) {
  auto m = checkMipmappedArray(handle);
  if (!m)
    return m.status();
  g_mipmapped.remove(*m);
  for (Array *a : (*m)->levels)
    destroyArray(a);
  delete *m;
  return CUDA_SUCCESS;
}

CUresult cuMipmappedArrayGetMemoryRequirements(CUDA_ARRAY_MEMORY_REQUIREMENTS *out, CUmipmappedArray handle,
                                               CUdevice device) {
  if (out == nullptr)
    return CUDA_ERROR_INVALID_VALUE;
  auto m = checkMipmappedArray(handle);
  if (!m)
    return m.status();
  auto d = deviceByOrdinal(device);
  if (!d)
    return d.status();
  *out = CUDA_ARRAY_MEMORY_REQUIREMENTS{};
  for (Array *a : (*m)->levels)
    out->size += a->bytes;
  out->alignment = std::size_t(attribute(*d, CU_DEVICE_ATTRIBUTE_TEXTURE_ALIGNMENT));
  return CUDA_SUCCESS;
}

// ---- linear copies to and from arrays ----------------------------------------

CUresult cuMemcpyHtoA_v2(CUarray dst, size_t offset, const void *src, size_t bytes) {
  auto d = arrayRange(dst, offset, bytes, "cuMemcpyHtoA");
  if (!d)
    return d.status();
  return linearCopy(CU_MEMORYTYPE_DEVICE, *d, CU_MEMORYTYPE_HOST, reinterpret_cast<std::uint64_t>(src), bytes,
                    nullptr, false);
}
CUresult cuMemcpyHtoAAsync_v2(CUarray dst, size_t offset, const void *src, size_t bytes, CUstream s) {
  auto d = arrayRange(dst, offset, bytes, "cuMemcpyHtoAAsync");
  if (!d)
    return d.status();
  return linearCopy(CU_MEMORYTYPE_DEVICE, *d, CU_MEMORYTYPE_HOST, reinterpret_cast<std::uint64_t>(src), bytes,
                    s, true);
}
CUresult cuMemcpyAtoH_v2(void *dst, CUarray src, size_t offset, size_t bytes) {
  auto s = arrayRange(src, offset, bytes, "cuMemcpyAtoH");
  if (!s)
    return s.status();
  return linearCopy(CU_MEMORYTYPE_HOST, reinterpret_cast<std::uint64_t>(dst), CU_MEMORYTYPE_DEVICE, *s, bytes,
                    nullptr, false);
}
CUresult cuMemcpyAtoHAsync_v2(void *dst, CUarray src, size_t offset, size_t bytes, CUstream stream) {
  auto s = arrayRange(src, offset, bytes, "cuMemcpyAtoHAsync");
  if (!s)
    return s.status();
  return linearCopy(CU_MEMORYTYPE_HOST, reinterpret_cast<std::uint64_t>(dst), CU_MEMORYTYPE_DEVICE, *s, bytes,
                    stream, true);
}
CUresult cuMemcpyAtoD_v2(CUdeviceptr dst, CUarray src, size_t offset, size_t bytes) {
  auto s = arrayRange(src, offset, bytes, "cuMemcpyAtoD");
  if (!s)
    return s.status();
  // Device-to-device copies are asynchronous to the host in CUDA.
  return linearCopy(CU_MEMORYTYPE_DEVICE, dst, CU_MEMORYTYPE_DEVICE, *s, bytes, nullptr, true);
}
CUresult cuMemcpyDtoA_v2(CUarray dst, size_t offset, CUdeviceptr src, size_t bytes) {
  auto d = arrayRange(dst, offset, bytes, "cuMemcpyDtoA");
  if (!d)
    return d.status();
  return linearCopy(CU_MEMORYTYPE_DEVICE, *d, CU_MEMORYTYPE_DEVICE, src, bytes, nullptr, true);
}
CUresult cuMemcpyAtoA_v2(CUarray dst, size_t dstOffset, CUarray src, size_t srcOffset, size_t bytes) {
  auto d = arrayRange(dst, dstOffset, bytes, "cuMemcpyAtoA");
  if (!d)
    return d.status();
  auto s = arrayRange(src, srcOffset, bytes, "cuMemcpyAtoA");
  if (!s)
    return s.status();
  return linearCopy(CU_MEMORYTYPE_DEVICE, *d, CU_MEMORYTYPE_DEVICE, *s, bytes, nullptr, true);
}

} // namespace api
} // namespace cuvirt

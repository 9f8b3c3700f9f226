// Texture and surface objects. Each object is a tex::Descriptor
// (runtime/texture_abi.h) written into device memory of the context's device;
// the CUtexObject/CUsurfObject handle is that device address, so kernels on
// any backend find everything they need through the handle alone.
#include "cuvirt_api.h"
#include "runtime/api_support.h"
#include "runtime/array.h"
#include "runtime/texture_abi.h"
#include <algorithm>
#include <cstring>

namespace cuvirt {
namespace {

struct TexObject {
  bool surface = false;
  Context *context = nullptr;
  CUDA_RESOURCE_DESC resource{};
  CUDA_TEXTURE_DESC texture{};
  CUDA_RESOURCE_VIEW_DESC view{};
  bool hasView = false;
};

std::mutex g_mutex;
std::map<std::uint64_t, TexObject> g_objects; // by handle (the descriptor's address)

// A caller's enum field may hold any bit pattern; reading it as the enum type
// would be undefined for values outside the enumerators' range.
template <class E> unsigned rawValue(const E &e) {
  static_assert(sizeof(E) == sizeof(unsigned));
  unsigned v;
  std::memcpy(&v, &e, sizeof v);
  return v;
}

constexpr unsigned kKnownTexFlags = CU_TRSF_READ_AS_INTEGER | CU_TRSF_NORMALIZED_COORDINATES | CU_TRSF_SRGB |
                                    CU_TRSF_DISABLE_TRILINEAR_OPTIMIZATION | CU_TRSF_SEAMLESS_CUBEMAP;

tex::Level levelOf(const Array &a) {
  tex::Level l{};
  l.address = a.address;
  l.pitch = a.pitch;
  l.slicePitch = a.slicePitch;
  l.width = std::uint32_t(a.width);
  l.height = std::uint32_t(a.height);
  // Layers and faces are counted by Descriptor::layers, not depth.
  const bool layers = a.desc.Flags & (CUDA_ARRAY3D_LAYERED | CUDA_ARRAY3D_CUBEMAP);
  l.depth = layers ? 1 : std::uint32_t(a.depth);
  return l;
}

void arrayGeometry(const Array &a, tex::Descriptor &d) {
  const unsigned f = a.desc.Flags;
  d.layers = 1;
  if (f & CUDA_ARRAY3D_CUBEMAP) {
    d.geometry = (f & CUDA_ARRAY3D_LAYERED) ? tex::GeomLayeredCube : tex::GeomCube;
    d.layers = std::uint32_t(a.depth);
  } else if (f & CUDA_ARRAY3D_LAYERED) {
    d.geometry = a.desc.Height == 0 ? tex::GeomLayered1D : tex::GeomLayered2D;
    d.layers = std::uint32_t(a.depth);
  } else if (a.desc.Depth != 0) {
    d.geometry = tex::Geom3D;
  } else {
    d.geometry = a.desc.Height != 0 ? tex::Geom2D : tex::Geom1D;
  }
  d.format = a.desc.Format;
  d.channels = a.desc.NumChannels;
  d.elementBytes = a.elementBytes;
}

/// Fills the resource part of `d` from `r` (CUDA's rules for each type).
Status describeResource(Context *c, const CUDA_RESOURCE_DESC &r, bool surface, tex::Descriptor &d,
                        const char *what) {
  if (r.flags != 0)
    return error(CUDA_ERROR_INVALID_VALUE, "{}: resource flags must be zero", what);
  d.resourceType = r.resType;
  d.levels = 1;
  if (surface && rawValue(r.resType) != CU_RESOURCE_TYPE_ARRAY)
    return error(CUDA_ERROR_INVALID_VALUE, "{}: surfaces need a CUDA array resource", what);
  const DeviceProps &props = c->device->props();
  auto attr = [&](CUdevice_attribute a) { return std::size_t(props.attributes[a]); };
  auto checkFormat = [&](CUarray_format f, unsigned n) -> Status {
    if (formatBytes(f) == 0 || (n != 1 && n != 2 && n != 4))
      return error(CUDA_ERROR_INVALID_VALUE, "{}: invalid format 0x{:x} x {}", what, unsigned(f), n);
    d.format = f;
    d.channels = n;
    d.elementBytes = formatBytes(f) * n;
    return {};
  };
  // Device allocations are 256-byte aligned here; CUDA's texture alignment
  // rule cannot be stricter than what cuMemAlloc hands out.
  auto checkPointer = [&](CUdeviceptr p, std::size_t bytes) -> Status {
    auto a = findAllocation(p);
    if (p == 0 || p % 256 != 0 || !a || p + bytes > a->base + a->size)
      return error(CUDA_ERROR_INVALID_VALUE, "{}: 0x{:x} is not an aligned device range of {} bytes", what, p,
                   bytes);
    return {};
  };
  switch (rawValue(r.resType)) {
  case CU_RESOURCE_TYPE_ARRAY: {
    auto a = checkArray(r.res.array.hArray);
    if (!a)
      return a.status();
    if (surface && !((*a)->desc.Flags & CUDA_ARRAY3D_SURFACE_LDST))
      return error(CUDA_ERROR_INVALID_VALUE, "{}: the array was not created with CUDA_ARRAY3D_SURFACE_LDST",
                   what);
    arrayGeometry(**a, d);
    d.level[0] = levelOf(**a);
    return {};
  }
  case CU_RESOURCE_TYPE_MIPMAPPED_ARRAY: {
    auto m = checkMipmappedArray(r.res.mipmap.hMipmappedArray);
    if (!m)
      return m.status();
    arrayGeometry(*(*m)->levels[0], d);
    d.levels = std::uint32_t((*m)->levels.size());
    for (unsigned l = 0; l < d.levels; ++l)
      d.level[l] = levelOf(*(*m)->levels[l]);
    return {};
  }
  case CU_RESOURCE_TYPE_LINEAR: {
    CUVIRT_TRY(checkFormat(r.res.linear.format, r.res.linear.numChannels));
    const std::size_t n = r.res.linear.sizeInBytes / d.elementBytes;
    if (n == 0 || n > attr(CU_DEVICE_ATTRIBUTE_MAXIMUM_TEXTURE1D_LINEAR_WIDTH))
      return error(CUDA_ERROR_INVALID_VALUE, "{}: {} elements of linear memory", what, n);
    CUVIRT_TRY(checkPointer(r.res.linear.devPtr, r.res.linear.sizeInBytes));
    d.geometry = tex::Geom1D;
    d.layers = 1;
    d.level[0] =
        tex::Level{r.res.linear.devPtr, n * d.elementBytes, n * d.elementBytes, std::uint32_t(n), 1, 1, 0};
    return {};
  }
  case CU_RESOURCE_TYPE_PITCH2D: {
    const auto &p = r.res.pitch2D;
    CUVIRT_TRY(checkFormat(p.format, p.numChannels));
    if (p.width == 0 || p.height == 0 || p.width > attr(CU_DEVICE_ATTRIBUTE_MAXIMUM_TEXTURE2D_LINEAR_WIDTH) ||
        p.height > attr(CU_DEVICE_ATTRIBUTE_MAXIMUM_TEXTURE2D_LINEAR_HEIGHT))
      return error(CUDA_ERROR_INVALID_VALUE, "{}: pitch2D extent {}x{}", what, p.width, p.height);
    if (p.pitchInBytes < p.width * d.elementBytes ||
        p.pitchInBytes % attr(CU_DEVICE_ATTRIBUTE_TEXTURE_PITCH_ALIGNMENT) != 0)
      return error(CUDA_ERROR_INVALID_VALUE, "{}: pitch {} for {} elements of {} bytes", what, p.pitchInBytes,
                   p.width, d.elementBytes);
    CUVIRT_TRY(checkPointer(p.devPtr, (p.height - 1) * p.pitchInBytes + p.width * d.elementBytes));
    d.geometry = tex::Geom2D;
    d.layers = 1;
    d.level[0] = tex::Level{p.devPtr,
                            p.pitchInBytes,
                            p.pitchInBytes * p.height,
                            std::uint32_t(p.width),
                            std::uint32_t(p.height),
                            1,
                            0};
    return {};
  }
  default:
    return error(CUDA_ERROR_INVALID_VALUE, "{}: invalid resource type {}", what, rawValue(r.resType));
  }
}

bool integerFormat(std::uint32_t f) { return f != CU_AD_FORMAT_HALF && f != CU_AD_FORMAT_FLOAT; }

Status describeSampling(const CUDA_TEXTURE_DESC &t, tex::Descriptor &d, const char *what) {
  for (int i = 0; i < 3; ++i)
    if (rawValue(t.addressMode[i]) > CU_TR_ADDRESS_MODE_BORDER)
      return error(CUDA_ERROR_INVALID_VALUE, "{}: invalid address mode {}", what, rawValue(t.addressMode[i]));
  if (rawValue(t.filterMode) > CU_TR_FILTER_MODE_LINEAR ||
      rawValue(t.mipmapFilterMode) > CU_TR_FILTER_MODE_LINEAR)
    return error(CUDA_ERROR_INVALID_VALUE, "{}: invalid filter mode", what);
  if ((t.flags & ~kKnownTexFlags) != 0)
    return error(CUDA_ERROR_INVALID_VALUE, "{}: unknown texture flags 0x{:x}", what, t.flags);
  const bool cube = d.geometry == tex::GeomCube || d.geometry == tex::GeomLayeredCube;
  if ((t.flags & CU_TRSF_SEAMLESS_CUBEMAP) && !cube)
    return error(CUDA_ERROR_INVALID_VALUE, "{}: seamless cubemap filtering needs a cubemap array", what);
  const bool normalizedCoords = t.flags & CU_TRSF_NORMALIZED_COORDINATES;
  if (d.resourceType == CU_RESOURCE_TYPE_MIPMAPPED_ARRAY && !normalizedCoords)
    return error(CUDA_ERROR_INVALID_VALUE, "{}: mipmapped arrays need normalized coordinates", what);
  // Integers read as integers cannot be interpolated (32-bit ones never promote).
  const bool readsIntegers = integerFormat(d.format) && ((t.flags & CU_TRSF_READ_AS_INTEGER) ||
                                                         formatBytes(CUarray_format(d.format)) == 4);
  const bool linearResource = d.resourceType == CU_RESOURCE_TYPE_LINEAR;
  if (t.filterMode == CU_TR_FILTER_MODE_LINEAR && readsIntegers && !linearResource)
    return error(CUDA_ERROR_INVALID_VALUE, "{}: linear filtering of a texture that returns integers", what);
  if ((t.flags & CU_TRSF_SRGB) && d.format != CU_AD_FORMAT_UNSIGNED_INT8)
    return error(CUDA_ERROR_INVALID_VALUE, "{}: sRGB needs an unsigned 8-bit format", what);
  for (int i = 0; i < 3; ++i) {
    // Linear memory ignores the sampling state; without normalized
    // coordinates only clamp (and border) addressing exists.
    std::uint32_t m =
        linearResource ? std::uint32_t(CU_TR_ADDRESS_MODE_CLAMP) : std::uint32_t(t.addressMode[i]);
    if (!normalizedCoords && (m == CU_TR_ADDRESS_MODE_WRAP || m == CU_TR_ADDRESS_MODE_MIRROR))
      m = CU_TR_ADDRESS_MODE_CLAMP;
    d.addressMode[i] = m;
  }
  d.filterMode = linearResource ? std::uint32_t(CU_TR_FILTER_MODE_POINT) : std::uint32_t(t.filterMode);
  d.mipmapFilterMode = t.mipmapFilterMode;
  d.readAsInteger = readsIntegers ? 1 : 0;
  d.normalizedCoords = normalizedCoords && !linearResource;
  d.sRGB = (t.flags & CU_TRSF_SRGB) ? 1 : 0;
  d.seamlessCubemap = (t.flags & CU_TRSF_SEAMLESS_CUBEMAP) ? 1 : 0;
  d.maxAnisotropy = std::clamp(t.maxAnisotropy, 1u, 16u);
  std::memcpy(d.borderColor, t.borderColor, sizeof d.borderColor);
  d.mipmapLevelBias = t.mipmapLevelBias;
  d.minMipmapLevelClamp = t.minMipmapLevelClamp;
  d.maxMipmapLevelClamp = t.maxMipmapLevelClamp;
  return {};
}

/// Applies a resource view: the same format, a range of levels and layers.
Status applyView(const CUDA_RESOURCE_VIEW_DESC &v, tex::Descriptor &d, const char *what) {
  if (d.resourceType != CU_RESOURCE_TYPE_ARRAY && d.resourceType != CU_RESOURCE_TYPE_MIPMAPPED_ARRAY)
    return error(CUDA_ERROR_INVALID_VALUE, "{}: resource views apply to arrays only", what);
  if (v.format != CU_RES_VIEW_FORMAT_NONE)
    return error(CUDA_ERROR_NOT_SUPPORTED, "{}: resource views with another format are not supported", what);
  const tex::Level &l0 = d.level[0];
  const bool layered = d.geometry == tex::GeomLayered1D || d.geometry == tex::GeomLayered2D ||
                       d.geometry == tex::GeomLayeredCube;
  if (v.width != l0.width || (v.height != 0 && v.height != l0.height))
    return error(CUDA_ERROR_INVALID_VALUE, "{}: a view must keep the resource's extent", what);
  if (v.lastMipmapLevel < v.firstMipmapLevel || v.lastMipmapLevel >= d.levels)
    return error(CUDA_ERROR_INVALID_VALUE, "{}: view levels {}..{} of {}", what, v.firstMipmapLevel,
                 v.lastMipmapLevel, d.levels);
  if (!layered && (v.firstLayer != 0 || v.lastLayer != 0))
    return error(CUDA_ERROR_INVALID_VALUE, "{}: layers in a view of a non-layered resource", what);
  if (layered && (v.lastLayer < v.firstLayer || v.lastLayer >= d.layers))
    return error(CUDA_ERROR_INVALID_VALUE, "{}: view layers {}..{} of {}", what, v.firstLayer, v.lastLayer,
                 d.layers);
  const unsigned first = v.firstMipmapLevel;
  d.levels = v.lastMipmapLevel - first + 1;
  for (unsigned l = 0; l < d.levels; ++l)
    d.level[l] = d.level[l + first];
  if (layered) {
    for (unsigned l = 0; l < d.levels; ++l)
      d.level[l].address += std::uint64_t(v.firstLayer) * d.level[l].slicePitch;
    d.layers = v.lastLayer - v.firstLayer + 1;
  }
  return {};
}

/// Writes `d` into new device memory of the context's device: the handle.
Expected<std::uint64_t> publish(Context *c, const tex::Descriptor &d) {
  auto p = allocateDevice(c->device, c, sizeof d, MemKind::Device);
  if (!p)
    return p.status();
  CopyOp op;
  op.dst = *p;
  op.src = reinterpret_cast<std::uint64_t>(&d);
  op.srcHost = true;
  op.widthBytes = sizeof d;
  // Fresh memory: nothing queued can touch it, so no stream ordering needed.
  if (Status s = c->device->backend->copyNow(op); !s.ok()) {
    (void)freeDevice(*p);
    return s;
  }
  return *p;
}

Status destroyObject(std::uint64_t handle, bool surface, const char *what) {
  Context *c = nullptr;
  {
    std::lock_guard lock(g_mutex);
    auto it = g_objects.find(handle);
    if (it == g_objects.end() || it->second.surface != surface)
      return error(CUDA_ERROR_INVALID_VALUE, "{}: 0x{:x} is not a live object", what, handle);
    c = it->second.context;
    g_objects.erase(it);
  }
  // Kernels still queued may read the descriptor: free it after them. A
  // destroyed context has freed it already (the address may be reused).
  if (!(*runtime())->contexts.contains(c))
    return {};
  (void)synchronizeContext(c);
  if (findAllocation(handle))
    (void)freeDevice(handle);
  return {};
}

Expected<TexObject> find(std::uint64_t handle, bool surface, const char *what) {
  std::lock_guard lock(g_mutex);
  auto it = g_objects.find(handle);
  if (it == g_objects.end() || it->second.surface != surface)
    return error(CUDA_ERROR_INVALID_VALUE, "{}: 0x{:x} is not a live object", what, handle);
  return it->second;
}

} // namespace

namespace api {

CUresult cuTexObjectCreate(CUtexObject *out, const CUDA_RESOURCE_DESC *res, const CUDA_TEXTURE_DESC *texDesc,
                           const CUDA_RESOURCE_VIEW_DESC *view) {
  constexpr const char *what = "cuTexObjectCreate";
  if (out == nullptr || res == nullptr || texDesc == nullptr)
    return CUDA_ERROR_INVALID_VALUE;
  auto c = requireContext();
  if (!c)
    return c.status();
  tex::Descriptor d{};
  d.magic = tex::kTextureMagic;
  CUVIRT_TRY(describeResource(*c, *res, false, d, what));
  CUVIRT_TRY(describeSampling(*texDesc, d, what));
  if (view != nullptr)
    CUVIRT_TRY(applyView(*view, d, what));
  auto h = publish(*c, d);
  if (!h)
    return h.status();
  TexObject o;
  o.context = *c;
  o.resource = *res;
  o.texture = *texDesc;
  if (view != nullptr) {
    o.view = *view;
    o.hasView = true;
  }
  {
    std::lock_guard lock(g_mutex);
    g_objects[*h] = o;
  }
  *out = *h;
  return CUDA_SUCCESS;
}

CUresult cuTexObjectDestroy(CUtexObject handle) { return destroyObject(handle, false, "cuTexObjectDestroy"); }

CUresult cuTexObjectGetResourceDesc(CUDA_RESOURCE_DESC *out, CUtexObject handle) {
  if (out == nullptr)
    return CUDA_ERROR_INVALID_VALUE;
  auto o = find(handle, false, "cuTexObjectGetResourceDesc");
  if (!o)
    return o.status();
  *out = o->resource;
  return CUDA_SUCCESS;
}

CUresult cuTexObjectGetTextureDesc(CUDA_TEXTURE_DESC *out, CUtexObject handle) {
  if (out == nullptr)
    return CUDA_ERROR_INVALID_VALUE;
  auto o = find(handle, false, "cuTexObjectGetTextureDesc");
  if (!o)
    return o.status();
  *out = o->texture;
  return CUDA_SUCCESS;
}

CUresult cuTexObjectGetResourceViewDesc(CUDA_RESOURCE_VIEW_DESC *out, CUtexObject handle) {
  if (out == nullptr)
    return CUDA_ERROR_INVALID_VALUE;
  auto o = find(handle, false, "cuTexObjectGetResourceViewDesc");
  if (!o)
    return o.status();
  if (!o->hasView)
    return error(CUDA_ERROR_INVALID_VALUE, "cuTexObjectGetResourceViewDesc: the object has no resource view");
  *out = o->view;
  return CUDA_SUCCESS;
}

CUresult cuSurfObjectCreate(CUsurfObject *out, const CUDA_RESOURCE_DESC *res) {
  constexpr const char *what = "cuSurfObjectCreate";
  if (out == nullptr || res == nullptr)
    return CUDA_ERROR_INVALID_VALUE;
  auto c = requireContext();
  if (!c)
    return c.status();
  tex::Descriptor d{};
  d.magic = tex::kSurfaceMagic;
  CUVIRT_TRY(describeResource(*c, *res, true, d, what));
  auto h = publish(*c, d);
  if (!h)
    return h.status();
  TexObject o;
  o.surface = true;
  o.context = *c;
  o.resource = *res;
  {
    std::lock_guard lock(g_mutex);
    g_objects[*h] = o;
  }
  *out = *h;
  return CUDA_SUCCESS;
}

CUresult cuSurfObjectDestroy(CUsurfObject handle) {
  return destroyObject(handle, true, "cuSurfObjectDestroy");
}

CUresult cuSurfObjectGetResourceDesc(CUDA_RESOURCE_DESC *out, CUsurfObject handle) {
  if (out == nullptr)
    return CUDA_ERROR_INVALID_VALUE;
  auto o = find(handle, true, "cuSurfObjectGetResourceDesc");
  if (!o)
    return o.status();
  *out = o->resource;
  return CUDA_SUCCESS;
}

} // namespace api
} // namespace cuvirt

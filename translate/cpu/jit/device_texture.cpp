// Texture sampling and surface access for CPU kernels: the kernel IR's
// cuvirt.tex / .txq / .suld / .sust / .suq calls (translate/ptx/
// lower_texture.cpp), reading the runtime's descriptor (runtime/texture_abi.h)
// through the object handle.
//
// Sampling follows the CUDA programming guide's "Texture Fetching" appendix,
// except that linear filtering uses float weights where the hardware uses
// 9-bit fixed point (results differ by at most ~1/256 of the texel step).
#include "translate/cpu/jit/device_texture.h"
#include "runtime/texture_abi.h"
#include <algorithm>
#include <cmath>
#include <cstring>
#include <sys/mman.h>

namespace {

using namespace cuvirt::tex;

// CUarray_format values (cuda.h), kept here so the JIT does not need it.
enum : std::uint32_t {
  U8 = 0x01,
  U16 = 0x02,
  U32 = 0x03,
  S8 = 0x08,
  S16 = 0x09,
  S32 = 0x0a,
  F16 = 0x10,
  F32 = 0x20
};
enum : std::uint32_t { Wrap = 0, Clamp = 1, Mirror = 2, Border = 3 };

float halfToFloat(std::uint16_t h) {
  const std::uint32_t sign = std::uint32_t(h & 0x8000) << 16;
  std::uint32_t exp = (h >> 10) & 0x1f, man = h & 0x3ff, bits;
  if (exp == 0) {
    if (man == 0) {
      bits = sign;
    } else { // subnormal: normalise
      exp = 127 - 15 + 1;
      while ((man & 0x400) == 0) {
        man <<= 1;
        --exp;
      }
      bits = sign | (exp << 23) | ((man & 0x3ff) << 13);
    }
  } else if (exp == 31) {
    bits = sign | 0x7f800000 | (man << 13);
  } else {
    bits = sign | ((exp + 127 - 15) << 23) | (man << 13);
  }
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

std::uint16_t floatToHalf(float f) {
  std::uint32_t x;
  std::memcpy(&x, &f, 4);
  const std::uint16_t sign = std::uint16_t((x >> 16) & 0x8000);
  const std::uint32_t exp = (x >> 23) & 0xff, man = x & 0x7fffff;
  if (exp == 0xff)
    return std::uint16_t(sign | 0x7c00 | (man ? 0x200 : 0));
  int e = int(exp) - 127 + 15;
  if (e >= 31)
    return std::uint16_t(sign | 0x7c00);
  if (e <= 0) {
    if (e < -10)
      return sign;
    std::uint32_t m = man | 0x800000;
    const int shift = 14 - e;
    std::uint32_t r = m >> shift, rem = m & ((1u << shift) - 1), half = 1u << (shift - 1);
    if (rem > half || (rem == half && (r & 1)))
      ++r;
    return std::uint16_t(sign | r);
  }
  std::uint32_t r = (std::uint32_t(e) << 10) | (man >> 13);
  const std::uint32_t rem = man & 0x1fff;
  if (rem > 0x1000 || (rem == 0x1000 && (r & 1)))
    ++r;
  return std::uint16_t(sign | r);
}

std::uint32_t bitsOf(float f) {
  std::uint32_t b;
  std::memcpy(&b, &f, 4);
  return b;
}
float floatOf(std::uint32_t b) {
  float f;
  std::memcpy(&f, &b, 4);
  return f;
}

unsigned channelBytes(std::uint32_t format) {
  switch (format) {
  case U8:
  case S8:
    return 1;
  case U16:
  case S16:
  case F16:
    return 2;
  default:
    return 4;
  }
}

/// Whether the texture returns floats (float formats, or 8/16-bit integers
/// promoted to [0, 1] / [-1, 1]).
bool returnsFloat(const Descriptor &d) { return d.format == F32 || d.format == F16 || !d.readAsInteger; }

float srgbToLinear(float c) { return c <= 0.04045f ? c / 12.92f : std::pow((c + 0.055f) / 1.055f, 2.4f); }

/// One texel as four float or integer channels (bits in `out`).
void fetch(const Descriptor &d, const std::uint8_t *p, std::uint32_t out[4]) {
  const bool asFloat = returnsFloat(d);
  const unsigned cb = channelBytes(d.format);
  for (unsigned c = 0; c < 4; ++c) {
    if (c >= d.channels) {
      out[c] = c == 3 ? (asFloat ? bitsOf(1.0f) : 1u) : 0u;
      continue;
    }
    const std::uint8_t *q = p + c * cb;
    std::uint32_t raw = 0;
    std::memcpy(&raw, q, cb);
    switch (d.format) {
    case F32:
      out[c] = raw;
      break;
    case F16:
      out[c] = bitsOf(halfToFloat(std::uint16_t(raw)));
      break;
    case U8:
      out[c] = asFloat ? bitsOf(float(raw) / 255.0f) : raw;
      if (asFloat && d.sRGB && c < 3)
        out[c] = bitsOf(srgbToLinear(floatOf(out[c])));
      break;
    case U16:
      out[c] = asFloat ? bitsOf(float(raw) / 65535.0f) : raw;
      break;
    case S8:
      out[c] = asFloat ? bitsOf(std::max(float(std::int8_t(raw)) / 127.0f, -1.0f))
                       : std::uint32_t(std::int32_t(std::int8_t(raw)));
      break;
    case S16:
      out[c] = asFloat ? bitsOf(std::max(float(std::int16_t(raw)) / 32767.0f, -1.0f))
                       : std::uint32_t(std::int32_t(std::int16_t(raw)));
      break;
    default: // 32-bit integers are never promoted
      out[c] = raw;
      break;
    }
  }
}

/// Applies an address mode to integer texel index `i` of an extent `n`;
/// false when the index is outside and the mode is border.
bool address(std::int64_t &i, std::int64_t n, std::uint32_t mode) {
  switch (mode) {
  case Wrap:
    i %= n;
    if (i < 0)
      i += n;
    return true;
  case Mirror: {
    std::int64_t m = i % (2 * n);
    if (m < 0)
      m += 2 * n;
    i = m < n ? m : 2 * n - 1 - m;
    return true;
  }
  case Border:
    return i >= 0 && i < n;
  default:
    i = std::clamp<std::int64_t>(i, 0, n - 1);
    return true;
  }
}

struct Sampler {
  const Descriptor &d;
  unsigned dims;          ///< 1, 2 or 3 coordinates
  std::uint32_t modes[3]; ///< per-dimension address mode
  std::int64_t layer;     ///< slice for layered/cube geometries

  /// The texel at integer indices (already within range or to be addressed).
  void texel(const Level &l, std::int64_t ix, std::int64_t iy, std::int64_t iz, std::uint32_t out[4]) const {
    const std::int64_t n[3] = {l.width, l.height, l.depth};
    std::int64_t idx[3] = {ix, iy, iz};
    for (unsigned k = 0; k < dims; ++k)
      if (!address(idx[k], n[k], modes[k])) {
        const bool asFloat = returnsFloat(d);
        for (unsigned c = 0; c < 4; ++c)
          out[c] = asFloat ? bitsOf(d.borderColor[c]) : std::uint32_t(std::int32_t(d.borderColor[c]));
        return;
      }
    for (unsigned k = dims; k < 3; ++k)
      idx[k] = 0;
    const std::uint64_t slice = std::uint64_t(layer) * l.depth + std::uint64_t(idx[2]);
    const auto *p = reinterpret_cast<const std::uint8_t *>(l.address + slice * l.slicePitch +
                                                           std::uint64_t(idx[1]) * l.pitch +
                                                           std::uint64_t(idx[0]) * d.elementBytes);
    fetch(d, p, out);
  }

  /// Samples one level at (unnormalized) texel coordinates u.
  void sample(const Level &l, const float u[3], bool linear, float out[4], std::uint32_t bits[4]) const {
    if (!linear) {
      std::int64_t i[3] = {0, 0, 0};
      for (unsigned k = 0; k < dims; ++k)
        i[k] = std::int64_t(std::floor(u[k]));
      texel(l, i[0], i[1], i[2], bits);
      for (unsigned c = 0; c < 4; ++c)
        out[c] = floatOf(bits[c]);
      return;
    }
    std::int64_t i0[3] = {0, 0, 0};
    float a[3] = {0, 0, 0};
    for (unsigned k = 0; k < dims; ++k) {
      const float x = u[k] - 0.5f;
      const float f = std::floor(x);
      i0[k] = std::int64_t(f);
      a[k] = x - f;
    }
    for (unsigned c = 0; c < 4; ++c)
      out[c] = 0;
    const unsigned corners = 1u << dims;
    for (unsigned m = 0; m < corners; ++m) {
      float w = 1;
      std::int64_t i[3] = {0, 0, 0};
      for (unsigned k = 0; k < dims; ++k) {
        const bool hi = m & (1u << k);
        i[k] = i0[k] + (hi ? 1 : 0);
        w *= hi ? a[k] : 1 - a[k];
      }
      if (w == 0)
        continue;
      std::uint32_t t[4];
      texel(l, i[0], i[1], i[2], t);
      for (unsigned c = 0; c < 4; ++c)
        out[c] += w * floatOf(t[c]);
    }
    for (unsigned c = 0; c < 4; ++c)
      bits[c] = bitsOf(out[c]);
  }
};

/// Cube-map direction to face and normalized (s, t), as the guide's table.
void cubeFace(float x, float y, float z, unsigned &face, float &s, float &t) {
  const float ax = std::fabs(x), ay = std::fabs(y), az = std::fabs(z);
  float sc, tc, ma;
  if (ax >= ay && ax >= az) {
    face = x >= 0 ? 0 : 1;
    sc = x >= 0 ? -z : z;
    tc = -y;
    ma = ax;
  } else if (ay >= az) {
    face = y >= 0 ? 2 : 3;
    sc = x;
    tc = y >= 0 ? z : -z;
    ma = ay;
  } else {
    face = z >= 0 ? 4 : 5;
    sc = z >= 0 ? x : -x;
    tc = -y;
    ma = az;
  }
  if (ma == 0)
    ma = 1;
  s = (sc / ma + 1) * 0.5f;
  t = (tc / ma + 1) * 0.5f;
}

/// A page that faults on any access: out-of-range surface accesses in .trap
/// mode touch it, so they end the launch as illegal addresses do (the CPU
/// backend's fault handler turns it into CUDA_ERROR_ILLEGAL_ADDRESS).
[[noreturn]] void fault() {
  static void *page = mmap(nullptr, 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  volatile const char *p = static_cast<volatile const char *>(page);
  (void)*p;
  __builtin_trap(); // unreachable: the read above faults
}

/// The common case, 2-D single-channel float with clamp addressing and one
/// level, without the generic sampler's per-texel dispatch (about 3x faster;
/// the same rules, the weights summed in another order).
bool fastFloat2D(const Descriptor &d, std::uint32_t op, float u, float v, std::uint32_t *out) {
  if ((op & ~std::uint32_t(kOpGeometryMask)) != 0 || (op & kOpGeometryMask) != Geom2D || d.format != F32 ||
      d.channels != 1 || d.levels != 1 || d.addressMode[0] != Clamp || d.addressMode[1] != Clamp)
    return false;
  const Level &l = d.level[0];
  const std::int64_t w = l.width, h = l.height;
  if (d.normalizedCoords) {
    u *= float(w);
    v *= float(h);
  }
  auto row = [&](std::int64_t j) {
    return reinterpret_cast<const float *>(l.address +
                                           std::uint64_t(std::clamp<std::int64_t>(j, 0, h - 1)) * l.pitch);
  };
  auto col = [&](std::int64_t i) { return std::clamp<std::int64_t>(i, 0, w - 1); };
  float r;
  if (d.filterMode != 1) {
    r = row(std::int64_t(std::floor(v)))[col(std::int64_t(std::floor(u)))];
  } else {
    const float xb = u - 0.5f, yb = v - 0.5f, fx = std::floor(xb), fy = std::floor(yb), a = xb - fx,
                b = yb - fy;
    const std::int64_t i = std::int64_t(fx), j = std::int64_t(fy);
    const float *r0 = row(j), *r1 = row(j + 1);
    const std::int64_t i0 = col(i), i1 = col(i + 1);
    r = (1 - b) * ((1 - a) * r0[i0] + a * r0[i1]) + b * ((1 - a) * r1[i0] + a * r1[i1]);
  }
  out[0] = bitsOf(r);
  out[3] = bitsOf(1.0f);
  return true;
}

} // namespace

extern "C" void cuvirt_cpu_tex(std::uint32_t *out, std::uint64_t handle, std::uint32_t op, std::uint32_t x,
                               std::uint32_t y, std::uint32_t z, std::int32_t layer, float lod, float dx0,
                               float dx1, float dx2, float dy0, float dy1, float dy2) {
  const auto &d = *reinterpret_cast<const Descriptor *>(handle);
  for (unsigned c = 0; c < 4; ++c)
    out[c] = 0;
  if (d.magic != kTextureMagic)
    return;
  if (fastFloat2D(d, op, floatOf(x), floatOf(y), out))
    return;
  const unsigned geometry = op & kOpGeometryMask;
  const bool cube = geometry == GeomCube || geometry == GeomLayeredCube;
  const unsigned dims = geometry == Geom1D || geometry == GeomLayered1D ? 1 : geometry == Geom3D ? 3 : 2;
  const bool layered = geometry == GeomLayered1D || geometry == GeomLayered2D || geometry == GeomLayeredCube;
  Sampler s{d, dims, {d.addressMode[0], d.addressMode[1], d.addressMode[2]}, 0};
  const std::uint32_t raw[3] = {x, y, z};

  // Integer coordinates: a texel fetch, no filtering (tex1Dfetch). Linear
  // memory reads zero out of range.
  if (op & kOpIntCoords) {
    const Level &l = d.level[0];
    std::int64_t i[3] = {std::int32_t(x), std::int32_t(y), std::int32_t(z)};
    if (d.resourceType == 2 /* CU_RESOURCE_TYPE_LINEAR */) {
      if (i[0] < 0 || i[0] >= std::int64_t(l.width))
        return;
      s.modes[0] = Clamp;
    }
    if (layered)
      s.layer = std::clamp<std::int64_t>(layer, 0, std::int64_t(d.layers) - 1);
    s.texel(l, i[0], i[1], i[2], out);
    return;
  }

  float u[3] = {floatOf(raw[0]), floatOf(raw[1]), floatOf(raw[2])};
  bool normalized = d.normalizedCoords;
  std::int64_t layers = d.layers;
  if (cube) {
    unsigned face;
    float fs, ft;
    cubeFace(u[0], u[1], u[2], face, fs, ft);
    u[0] = fs;
    u[1] = ft;
    normalized = true;
    s.modes[0] = s.modes[1] = Clamp;
    s.layer =
        (geometry == GeomLayeredCube ? std::clamp<std::int64_t>(layer, 0, layers / 6 - 1) * 6 : 0) + face;
  } else if (layered) {
    s.layer = std::clamp<std::int64_t>(layer, 0, layers - 1);
  }

  // Level of detail: level 0, an explicit one, or from the gradients.
  const unsigned mode = (op >> kOpModeShift) & 3;
  float level = 0;
  if (mode == ModeLevel) {
    level = lod;
  } else if (mode == ModeGrad) {
    const Level &l0 = d.level[0];
    const float n[3] = {float(l0.width), float(l0.height), float(l0.depth)};
    const float gx[3] = {dx0, dx1, dx2}, gy[3] = {dy0, dy1, dy2};
    float px = 0, py = 0;
    for (unsigned k = 0; k < dims; ++k) {
      const float scale = normalized ? n[k] : 1.0f;
      px += (gx[k] * scale) * (gx[k] * scale);
      py += (gy[k] * scale) * (gy[k] * scale);
    }
    const float rho = std::sqrt(std::max(px, py));
    level = rho > 0 ? std::log2(rho) : -1e30f;
  }
  if (d.levels > 1 || mode != ModeBase) {
    level += d.mipmapLevelBias;
    if (d.levels > 1)
      level =
          std::clamp(level, d.minMipmapLevelClamp, std::max(d.minMipmapLevelClamp, d.maxMipmapLevelClamp));
  }
  level = std::clamp(level, 0.0f, float(d.levels - 1));

  const bool linear = d.filterMode == 1;
  auto sampleLevel = [&](unsigned lv, float res[4], std::uint32_t bits[4]) {
    const Level &l = d.level[lv];
    const float n[3] = {float(l.width), float(l.height), float(l.depth)};
    float t[3];
    for (unsigned k = 0; k < 3; ++k)
      t[k] = normalized ? u[k] * n[k] : u[k];
    if (op & kOpGather) {
      // tld4: component `comp` of the four bilinear texels, in the order
      // (u0,v1), (u1,v1), (u1,v0), (u0,v0).
      const unsigned comp = (op >> kOpGatherCompShift) & 3;
      const std::int64_t i0 = std::int64_t(std::floor(t[0] - 0.5f)),
                         j0 = std::int64_t(std::floor(t[1] - 0.5f));
      const std::int64_t corner[4][2] = {{i0, j0 + 1}, {i0 + 1, j0 + 1}, {i0 + 1, j0}, {i0, j0}};
      for (unsigned c = 0; c < 4; ++c) {
        std::uint32_t tb[4];
        s.texel(l, corner[c][0], corner[c][1], 0, tb);
        bits[c] = tb[comp];
        res[c] = floatOf(tb[comp]);
      }
      return;
    }
    s.sample(l, t, linear && returnsFloat(d), res, bits);
  };

  float r[4];
  std::uint32_t bits[4];
  if (d.levels > 1 && d.mipmapFilterMode == 1 && !(op & kOpGather) && level != std::floor(level)) {
    const unsigned lo = unsigned(std::floor(level));
    const float w = level - float(lo);
    float r1[4];
    std::uint32_t b1[4];
    sampleLevel(lo, r, bits);
    sampleLevel(lo + 1, r1, b1);
    for (unsigned c = 0; c < 4; ++c)
      out[c] = bitsOf(r[c] * (1 - w) + r1[c] * w);
    return;
  }
  const unsigned lv = d.levels > 1 ? unsigned(std::floor(level + 0.5f)) : 0;
  sampleLevel(std::min(lv, d.levels - 1), r, bits);
  for (unsigned c = 0; c < 4; ++c)
    out[c] = bits[c];
}

extern "C" std::uint32_t cuvirt_cpu_txq(std::uint64_t handle, std::uint32_t query, std::int32_t level) {
  const auto &d = *reinterpret_cast<const Descriptor *>(handle);
  if (d.magic != kTextureMagic)
    return 0;
  const Level &l = d.level[std::clamp<std::int32_t>(level, 0, std::int32_t(d.levels) - 1)];
  switch (query) {
  case QueryWidth:
    return l.width;
  case QueryHeight:
    return l.height;
  case QueryDepth:
    return l.depth;
  case QueryChannelDataType:
    return d.format;
  case QueryChannelOrder:
    return d.channels;
  case QueryNormalizedCoords:
    return d.normalizedCoords;
  case QueryFilterMode:
    return d.filterMode;
  case QueryAddrMode0:
  case QueryAddrMode1:
  case QueryAddrMode2:
    return d.addressMode[query - QueryAddrMode0];
  case QueryArraySize:
    return d.geometry == GeomLayeredCube ? d.layers / 6 : d.layers;
  case QueryNumMipmapLevels:
    return d.levels;
  default:
    return 0;
  }
}

extern "C" std::uint32_t cuvirt_cpu_suq(std::uint64_t handle, std::uint32_t query) {
  const auto &d = *reinterpret_cast<const Descriptor *>(handle);
  if (d.magic != kSurfaceMagic)
    return 0;
  switch (query) {
  case QueryWidth:
    return d.level[0].width;
  case QueryHeight:
    return d.level[0].height;
  case QueryDepth:
    return d.level[0].depth;
  case QueryChannelDataType:
    return d.format;
  case QueryChannelOrder:
    return d.channels;
  case QueryArraySize:
    return d.geometry == GeomLayeredCube ? d.layers / 6 : d.layers;
  case QueryMemoryLayout:
    return 0; // arrays: block-linear on a GPU
  default:
    return 0;
  }
}

namespace {

/// The address a surface access touches, or nullptr when it is out of range
/// in .zero mode. .trap faults; .clamp moves the access inside.
std::uint8_t *surfaceAddress(const Descriptor &d, std::uint32_t op, std::int32_t x, std::int32_t y,
                             std::int32_t z, std::int32_t layer, unsigned bytes) {
  const Level &l = d.level[0];
  const unsigned geometry = op & kOpGeometryMask;
  const bool layered = geometry == GeomLayered1D || geometry == GeomLayered2D || geometry == GeomLayeredCube;
  const unsigned dims = geometry == Geom1D || geometry == GeomLayered1D ? 1 : geometry == Geom3D ? 3 : 2;
  // sust.p addresses elements; .b addresses bytes in x.
  std::int64_t bx = (op & kSurfFormatted) ? std::int64_t(x) * d.elementBytes : x;
  std::int64_t c[4] = {bx, dims > 1 ? y : 0, dims > 2 ? z : 0, layered ? layer : 0};
  const std::int64_t limit[4] = {std::int64_t(l.width) * d.elementBytes - bytes, std::int64_t(l.height) - 1,
                                 std::int64_t(l.depth) - 1, std::int64_t(d.layers) - 1};
  const auto mode = (op >> kSurfClampShift) & 3;
  for (unsigned k = 0; k < 4; ++k) {
    if (c[k] >= 0 && c[k] <= limit[k])
      continue;
    if (mode == SurfZero)
      return nullptr;
    if (mode == SurfTrap || limit[k] < 0)
      fault();
    c[k] = std::clamp<std::int64_t>(c[k], 0, limit[k]);
  }
  const std::uint64_t slice = std::uint64_t(c[3]) * l.depth + std::uint64_t(c[2]);
  return reinterpret_cast<std::uint8_t *>(l.address + slice * l.slicePitch + std::uint64_t(c[1]) * l.pitch +
                                          std::uint64_t(c[0]));
}

} // namespace

extern "C" void cuvirt_cpu_suld(void *out, std::uint64_t handle, std::uint32_t op, std::int32_t x,
                                std::int32_t y, std::int32_t z, std::int32_t layer) {
  const auto &d = *reinterpret_cast<const Descriptor *>(handle);
  const unsigned bytes = ((op >> kSurfBytesShift) & 0xf) * ((op >> kSurfCountShift) & 7);
  std::memset(out, 0, bytes);
  if (d.magic != kSurfaceMagic)
    fault();
  if (const std::uint8_t *p = surfaceAddress(d, op, x, y, z, layer, bytes))
    std::memcpy(out, p, bytes);
}

extern "C" void cuvirt_cpu_sust(const void *in, std::uint64_t handle, std::uint32_t op, std::int32_t x,
                                std::int32_t y, std::int32_t z, std::int32_t layer) {
  const auto &d = *reinterpret_cast<const Descriptor *>(handle);
  if (d.magic != kSurfaceMagic)
    fault();
  if (!(op & kSurfFormatted)) {
    const unsigned bytes = ((op >> kSurfBytesShift) & 0xf) * ((op >> kSurfCountShift) & 7);
    if (std::uint8_t *p = surfaceAddress(d, op, x, y, z, layer, bytes))
      std::memcpy(p, in, bytes);
    return;
  }
  // sust.p: the .b32 components converted to the surface's format (floats
  // for float formats and normalized integers, integers otherwise).
  std::uint8_t *p = surfaceAddress(d, op, x, y, z, layer, d.elementBytes);
  if (p == nullptr)
    return;
  const auto *v = static_cast<const std::uint32_t *>(in);
  const unsigned count = (op >> kSurfCountShift) & 7, cb = channelBytes(d.format);
  for (unsigned c = 0; c < d.channels && c < count; ++c) {
    const float f = floatOf(v[c]);
    std::uint32_t w = v[c];
    switch (d.format) {
    case F16:
      w = floatToHalf(f);
      break;
    case U8:
    case U16:
    case S8:
    case S16:
      if (!d.readAsInteger) { // normalized: [0,1] or [-1,1] floats
        const float scale = d.format == U8    ? 255.f
                            : d.format == U16 ? 65535.f
                            : d.format == S8  ? 127.f
                                              : 32767.f;
        const float lo = d.format == U8 || d.format == U16 ? 0.f : -1.f;
        w = std::uint32_t(std::int32_t(std::lrint(std::clamp(f, lo, 1.0f) * scale)));
      }
      break;
    default:
      break;
    }
    std::memcpy(p + c * cb, &w, cb);
  }
}

namespace {

template <class T> void reduce(T *p, T v, unsigned red) {
  switch (red) {
  case 0:
    __atomic_fetch_add(p, v, __ATOMIC_RELAXED);
    return;
  case 3:
    __atomic_fetch_and(p, v, __ATOMIC_RELAXED);
    return;
  case 4:
    __atomic_fetch_or(p, v, __ATOMIC_RELAXED);
    return;
  default: { // min / max
    T old = __atomic_load_n(p, __ATOMIC_RELAXED);
    while ((red == 1 ? v < old : v > old) &&
           !__atomic_compare_exchange_n(p, &old, v, true, __ATOMIC_RELAXED, __ATOMIC_RELAXED)) {
    }
  }
  }
}

} // namespace

extern "C" void cuvirt_cpu_sured(const void *in, std::uint64_t handle, std::uint32_t op, std::int32_t x,
                                 std::int32_t y, std::int32_t z, std::int32_t layer) {
  const auto &d = *reinterpret_cast<const Descriptor *>(handle);
  if (d.magic != kSurfaceMagic)
    fault();
  const unsigned bytes = (op >> kSurfBytesShift) & 0xf, red = (op >> kSurfRedShift) & 0xf;
  const bool isSigned = op & kSurfRedSigned;
  std::uint8_t *p = surfaceAddress(d, op, x, y, z, layer, bytes);
  if (p == nullptr)
    return;
  if (bytes == 8) {
    std::uint64_t v;
    std::memcpy(&v, in, 8);
    if (isSigned)
      reduce(reinterpret_cast<std::int64_t *>(p), std::int64_t(v), red);
    else
      reduce(reinterpret_cast<std::uint64_t *>(p), v, red);
    return;
  }
  std::uint32_t v;
  std::memcpy(&v, in, 4);
  if (isSigned)
    reduce(reinterpret_cast<std::int32_t *>(p), std::int32_t(v), red);
  else
    reduce(reinterpret_cast<std::uint32_t *>(p), v, red);
}

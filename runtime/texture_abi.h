// The texture/surface object descriptor: what a CUtexObject or CUsurfObject
// handle points at. The runtime (runtime/texture.cpp) writes it into device
// memory of the context's device; kernels read it through the handle (on the
// CPU: translate/cpu/jit/device_texture.cpp). Plain data with a fixed layout,
// no pointers into the host, so a remote device can use it unchanged.
#pragma once
#include <cstdint>

namespace cuvirt::tex {

constexpr std::uint32_t kTextureMagic = 0x58545643; // "CVTX"
constexpr std::uint32_t kSurfaceMagic = 0x46535643; // "CVSF"
constexpr unsigned kMaxLevels = 20;

/// Geometry of the resource (what tex.1d/.2d/.3d/.a1d/.a2d/.cube/.acube need).
enum Geometry : std::uint32_t {
  Geom1D,
  Geom2D,
  Geom3D,
  GeomLayered1D,
  GeomLayered2D,
  GeomCube,
  GeomLayeredCube
};

/// One mipmap level (level 0 for everything but mipmapped arrays). Texel
/// (x, y, z) of layer/face l is at address + (l * depth + z) * slicePitch +
/// y * pitch + x * elementBytes.
struct Level {
  std::uint64_t address;
  std::uint64_t pitch;                ///< bytes between rows
  std::uint64_t slicePitch;           ///< bytes between 2-D slices (3-D depth or layers)
  std::uint32_t width, height, depth; ///< at least 1 each
  std::uint32_t pad;
};

struct Descriptor {
  std::uint32_t magic;        ///< kTextureMagic or kSurfaceMagic
  std::uint32_t geometry;     ///< Geometry
  std::uint32_t format;       ///< CUarray_format value
  std::uint32_t channels;     ///< 1, 2 or 4
  std::uint32_t elementBytes; ///< bytes per texel (all channels)
  std::uint32_t layers;       ///< layers (layered), 6 x layers (cubemaps), else 1
  std::uint32_t levels;       ///< mipmap levels, at least 1
  std::uint32_t resourceType; ///< CUresourcetype
  // Sampling state (textures only).
  std::uint32_t addressMode[3]; ///< CUaddress_mode
  std::uint32_t filterMode;     ///< CUfilter_mode
  std::uint32_t mipmapFilterMode;
  std::uint32_t readAsInteger;    ///< CU_TRSF_READ_AS_INTEGER: no normalisation of 8/16-bit integers
  std::uint32_t normalizedCoords; ///< CU_TRSF_NORMALIZED_COORDINATES
  std::uint32_t sRGB;             ///< CU_TRSF_SRGB
  std::uint32_t seamlessCubemap;  ///< CU_TRSF_SEAMLESS_CUBEMAP
  std::uint32_t maxAnisotropy;
  float borderColor[4];
  float mipmapLevelBias, minMipmapLevelClamp, maxMipmapLevelClamp;
  std::uint32_t pad;
  Level level[kMaxLevels];
};

// The `op` word of the kernel IR's texture calls (translate/KERNEL_IR.md):
// bits 0-3 geometry, 4 integer coordinates, 5-6 result kind, 7-8 level mode,
// 9-10 tld4 component, 11 tld4.
enum : std::uint32_t {
  kOpGeometryMask = 0xF,
  kOpIntCoords = 1u << 4,
  kOpResultShift = 5, ///< 0 f32, 1 s32, 2 u32
  kOpModeShift = 7,   ///< 0 base (level 0 or implicit), 1 .level, 2 .grad
  kOpGatherCompShift = 9,
  kOpGather = 1u << 11,
};
enum ResultKind : std::uint32_t { ResultF32, ResultS32, ResultU32 };
enum LevelMode : std::uint32_t { ModeBase, ModeLevel, ModeGrad };

// Surface ops: bits 0-3 geometry, 4-7 bytes per component (1, 2, 4, 8, 16),
// 8-10 components (1, 2, 4), 11-12 out-of-range mode, 13 formatted (.p),
// 14-15 formatted value kind (ResultKind).
enum : std::uint32_t {
  kSurfBytesShift = 4,
  kSurfCountShift = 8,
  kSurfClampShift = 11, ///< 0 trap, 1 clamp, 2 zero
  kSurfFormatted = 1u << 13,
  kSurfKindShift = 14,
  kSurfRedShift = 16, ///< sured: 0 add, 1 min, 2 max, 3 and, 4 or
  kSurfRedSigned = 1u << 20,
};
enum SurfClamp : std::uint32_t { SurfTrap, SurfClampMode, SurfZero };

// txq/suq queries (the `query` argument).
enum Query : std::uint32_t {
  QueryWidth,
  QueryHeight,
  QueryDepth,
  QueryChannelDataType,
  QueryChannelOrder,
  QueryNormalizedCoords,
  QueryFilterMode,
  QueryAddrMode0,
  QueryAddrMode1,
  QueryAddrMode2,
  QueryArraySize,
  QueryNumMipmapLevels,
  QueryNumSamples,
  QueryMemoryLayout,
};

} // namespace cuvirt::tex

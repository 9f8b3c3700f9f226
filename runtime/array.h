// CUDA arrays and mipmapped arrays (runtime/array.cpp): ordinary device
// memory of the context's device, laid out linearly (rows, then 2-D slices,
// then layers), so copies are pitched copies and every backend (a remote one
// too) can hold them.
#pragma once
#include "runtime/runtime.h"
#include <vector>

namespace cuvirt {

struct MipmappedArray;

struct Array {
  Context *context = nullptr;
  Device *device = nullptr;
  CUDA_ARRAY3D_DESCRIPTOR desc{};               ///< as created (Height/Depth 0 for 1-D/2-D)
  unsigned elementBytes = 0;                    ///< bytes per element, all channels
  std::size_t width = 1, height = 1, depth = 1; ///< at least 1; depth counts layers/faces too
  std::size_t pitch = 0, slicePitch = 0;        ///< bytes per row and per 2-D slice
  std::uint64_t address = 0;
  std::size_t bytes = 0;
  MipmappedArray *parent = nullptr; ///< a level of this mipmapped array (not destroyable alone)
};

struct MipmappedArray {
  Context *context = nullptr;
  CUDA_ARRAY3D_DESCRIPTOR desc{};
  std::vector<Array *> levels;
};

/// Bytes per channel of an array format, 0 if the format is not supported.
unsigned formatBytes(CUarray_format format);

/// A live CUarray, or CUDA_ERROR_INVALID_HANDLE.
Expected<Array *> checkArray(CUarray handle);
/// A live CUmipmappedArray, or CUDA_ERROR_INVALID_HANDLE.
Expected<MipmappedArray *> checkMipmappedArray(CUmipmappedArray handle);

/// One array side of a cuMemcpy2D/3D: checks the copy box against the array
/// and gives its base address, row pitch and rows per slice.
Status arrayCopyGeometry(CUarray handle, std::size_t x, std::size_t y, std::size_t z, std::size_t widthBytes,
                         std::size_t height, std::size_t depth, std::uint64_t *base, std::size_t *pitch,
                         std::size_t *sliceHeight, const char *what);

} // namespace cuvirt

// Device-code images as they reach the driver: the nvcc fatbin wrapper
// (__fatDeviceText), a bare fatbin container, PTX text, or a cubin ELF.
// See shared/design/fatbin-format.md for the layouts.
#pragma once
#include "runtime/module_info.h"
#include "runtime/status.h"
#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace cuvirt::image {

enum class EntryKind { Ptx, Cubin };

struct Entry {
  EntryKind kind = EntryKind::Ptx;
  int arch = 0;            ///< 75 for sm_75 / compute_75
  std::uint64_t flags = 0; ///< fatbin entry flags as stored (0 for a bare PTX or cubin image)
  std::string data;        ///< decompressed payload: PTX text (no trailing NUL) or ELF bytes
};

struct Image {
  std::vector<Entry> entries; ///< in container order
  /// nvcc -rdc=true (wrapper version 2): the objects' own fatbins, whose PTX
  /// the driver links when the device-linked machine code does not fit.
  std::vector<Image> prelinked;
};

/// Parses a bounded buffer of any of the four forms. A truncated or corrupt
/// buffer gives CUDA_ERROR_INVALID_IMAGE with a message; never reads outside
/// `bytes`. (A fatbin wrapper holds a pointer, which is followed through
/// safeCopy's fault-safe reads.)
Expected<Image> parse(std::span<const std::uint8_t> bytes);

/// Parses an image the driver got as a bare pointer with no size
/// (cuModuleLoadData). The sizes come from the headers; every byte is read
/// through a fault-safe copy, so an unmapped or truncated image is an
/// error, never a crash.
Expected<Image> parseFromMemory(const void *image);

/// Reads a whole file and parses it (cuModuleLoad, cuLibraryLoadFromFile).
/// Besides the four forms, a host executable's `.nv_fatbin` section is read.
Expected<Image> parseFile(const std::string &path);

/// Kernels (with parameter layouts from .nv.info) and global variables (with
/// initial data from .nv.global.init / constant banks) of a cubin ELF.
Expected<ModuleInfo> cubinInfo(std::span<const std::uint8_t> elf);

/// Copies `n` bytes at `src` into `dst` without faulting on unmapped memory;
/// returns false if any byte is unreadable.
bool safeCopy(void *dst, const void *src, std::size_t n);

} // namespace cuvirt::image

// Helpers shared by the image parsers: bounds-checked little-endian reads and
// the layout constants of the containers (see shared/design/fatbin-format.md).
#pragma once
#include "intercept/image/image.h"
#include <cstring>
#include <functional>
#include <optional>

namespace cuvirt::image::detail {

inline constexpr std::uint32_t kWrapperMagic = 0x466243b1;
inline constexpr std::uint32_t kFatbinMagic = 0xBA55ED50;
inline constexpr std::uint16_t kEmCuda = 190;
inline constexpr char kElfMagic[4] = {0x7f, 'E', 'L', 'F'};
inline constexpr std::uint32_t kElfMagicWord = 0x464c457f; ///< kElfMagic read as a little-endian u32
/// Largest image or decompressed entry we accept: far above any real module,
/// low enough that a corrupt size field cannot make us allocate the machine.
inline constexpr std::uint64_t kMaxImageBytes = 1ull << 30;

inline constexpr std::size_t kContainerHeaderBytes = 16;
inline constexpr std::size_t kEntryHeaderMinBytes = 64;
inline constexpr std::uint64_t kEntryFlagLz4 = 0x2000;
inline constexpr std::uint64_t kEntryFlagZstd = 0x8000;

/// Reads a T at `off` if it lies inside `bytes`.
template <class T> std::optional<T> load(std::span<const std::uint8_t> bytes, std::uint64_t off) {
  if (off > bytes.size() || bytes.size() - off < sizeof(T))
    return std::nullopt;
  T v;
  std::memcpy(&v, bytes.data() + off, sizeof(T));
  return v;
}

/// `bytes[off, off+n)` if it lies inside `bytes`.
inline std::optional<std::span<const std::uint8_t>> slice(std::span<const std::uint8_t> bytes,
                                                          std::uint64_t off, std::uint64_t n) {
  if (off > bytes.size() || bytes.size() - off < n)
    return std::nullopt;
  return bytes.subspan(off, n);
}

inline std::span<const std::uint8_t> asBytes(const std::string &s) {
  return {reinterpret_cast<const std::uint8_t *>(s.data()), s.size()};
}

/// True if the text, after whitespace and // or /* */ comments, starts with a
/// PTX module directive.
bool looksLikePtx(std::span<const std::uint8_t> bytes);

/// Parses one or more fatbin containers laid back to back.
Expected<Image> parseContainers(std::span<const std::uint8_t> bytes);

/// Copies the fatbin container at `p` (size from its header) through safe reads.
Expected<std::vector<std::uint8_t>> copyContainerFromMemory(const void *p);

/// safeCopy's fallback where process_vm_readv is not allowed: copies through
/// a pipe, which reports an unreadable source as EFAULT.
bool pipeCopy(void *dst, const void *src, std::size_t n);

/// Reads `n` bytes at offset `off` of an image into `dst`; false if out of reach.
using ReadFn = std::function<bool(std::uint64_t off, void *dst, std::size_t n)>;

/// Bytes an ELF64 image spans: the end of its furthest header table, section
/// or segment. INVALID_IMAGE if a table is unreadable or absurd.
Expected<std::uint64_t> elfExtent(const ReadFn &read, std::string_view where);

/// INVALID_IMAGE unless everything the ELF's headers describe lies in `elf`.
Status checkElfExtent(std::span<const std::uint8_t> elf, std::string_view what);

/// The `.nv_fatbin` section of a host (non-CUDA) ELF executable, if any.
std::optional<std::span<const std::uint8_t>> hostFatbinSection(std::span<const std::uint8_t> elf);

} // namespace cuvirt::image::detail

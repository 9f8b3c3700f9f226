// Fault-safe reads of our own memory, and the size derivation for images that
// arrive as a bare pointer (cuModuleLoadData).
#include "intercept/image/image_internal.h"
#include <algorithm>
#include <cerrno>
#include <fcntl.h>
#include <sys/uio.h>
#include <unistd.h>

namespace cuvirt::image {
namespace {

/// process_vm_readv on our own pid: the kernel does the reading, so an
/// unmapped source is EFAULT rather than SIGSEGV.
enum class VmRead { Ok, Fault, Unavailable };

VmRead vmRead(void *dst, const void *src, std::size_t n) {
  auto *d = static_cast<std::uint8_t *>(dst);
  auto s = reinterpret_cast<std::uintptr_t>(src);
  while (n > 0) {
    iovec local{d, n};
    iovec remote{reinterpret_cast<void *>(s), n};
    ssize_t got = process_vm_readv(getpid(), &local, 1, &remote, 1, 0);
    if (got < 0) {
      if (errno == EINTR)
        continue;
      // Seccomp profiles may forbid the call outright; then use the pipe path.
      return errno == EFAULT || errno == ENOMEM ? VmRead::Fault : VmRead::Unavailable;
    }
    if (got == 0)
      return VmRead::Fault;
    // A short read stops at the first unreadable page; the retry reports it.
    d += got;
    s += static_cast<std::uintptr_t>(got);
    n -= static_cast<std::size_t>(got);
  }
  return VmRead::Ok;
}

} // namespace

/// Fallback: write(2) from an unreadable buffer fails with EFAULT instead of
/// faulting. Goes through a pipe in page-sized pieces.
bool detail::pipeCopy(void *dst, const void *src, std::size_t n) {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0)
    return false;
  auto *d = static_cast<std::uint8_t *>(dst);
  const auto *s = static_cast<const std::uint8_t *>(src);
  bool ok = true;
  while (ok && n > 0) {
    std::size_t chunk = std::min<std::size_t>(n, 4096);
    ssize_t w = write(fds[1], s, chunk);
    if (w < 0 && errno == EINTR)
      continue;
    if (w <= 0) {
      ok = false;
      break;
    }
    std::size_t left = static_cast<std::size_t>(w);
    while (left > 0) {
      ssize_t r = read(fds[0], d, left);
      if (r < 0 && errno == EINTR)
        continue;
      if (r <= 0) {
        ok = false;
        break;
      }
      d += r;
      left -= static_cast<std::size_t>(r);
    }
    s += w;
    n -= static_cast<std::size_t>(w);
  }
  close(fds[0]);
  close(fds[1]);
  return ok;
}

bool safeCopy(void *dst, const void *src, std::size_t n) {
  if (n == 0)
    return true;
  if (src == nullptr || dst == nullptr)
    return false;
  // Wrapping around the address space is never a valid range.
  if (reinterpret_cast<std::uintptr_t>(src) + n < reinterpret_cast<std::uintptr_t>(src))
    return false;
  switch (vmRead(dst, src, n)) {
  case VmRead::Ok:
    return true;
  case VmRead::Fault:
    return false;
  case VmRead::Unavailable:
    break;
  }
  return detail::pipeCopy(dst, src, n);
}

namespace {

template <class T> std::optional<T> safeLoad(const void *p, std::uint64_t off = 0) {
  T v;
  if (!safeCopy(&v, static_cast<const std::uint8_t *>(p) + off, sizeof(T)))
    return std::nullopt;
  return v;
}

Expected<std::vector<std::uint8_t>> copyBytes(const void *p, std::uint64_t n, const char *what) {
  if (n > detail::kMaxImageBytes)
    return error(CUDA_ERROR_INVALID_IMAGE, "{} image claims {} bytes, more than the {} byte limit", what, n,
                 detail::kMaxImageBytes);
  std::vector<std::uint8_t> out(n);
  if (!safeCopy(out.data(), p, n))
    return error(CUDA_ERROR_INVALID_IMAGE, "{} image at {} is not readable for its {} bytes", what, p, n);
  return out;
}

} // namespace

namespace detail {

Expected<std::uint64_t> elfExtent(const ReadFn &read, std::string_view where) {
  std::uint8_t ehdr[64];
  if (!read(0, ehdr, sizeof ehdr))
    return error(CUDA_ERROR_INVALID_IMAGE, "{}: header is not readable", where);
  if (ehdr[4] != 2 || ehdr[5] != 1)
    return error(CUDA_ERROR_INVALID_IMAGE, "{}: not a little-endian 64-bit ELF", where);
  auto rd64 = [&](int off) {
    std::uint64_t v;
    std::memcpy(&v, ehdr + off, 8);
    return v;
  };
  auto rd16 = [&](int off) {
    std::uint16_t v;
    std::memcpy(&v, ehdr + off, 2);
    return v;
  };
  const std::uint64_t phoff = rd64(32), shoff = rd64(40);
  const std::uint16_t phentsize = rd16(54), shentsize = rd16(58);
  std::uint64_t phnum = rd16(56), shnum = rd16(60);
  std::uint64_t end = sizeof ehdr;
  // Offsets and lengths are bounded first, so their sums cannot wrap.
  auto extend = [&](std::uint64_t off, std::uint64_t len) -> bool {
    if (off > kMaxImageBytes || len > kMaxImageBytes)
      return false;
    end = std::max(end, off + len);
    return end <= kMaxImageBytes;
  };
  if (shoff != 0) {
    if (shentsize < 64)
      return error(CUDA_ERROR_INVALID_IMAGE, "{}: section header size {} < 64", where, shentsize);
    if (shoff > kMaxImageBytes)
      return error(CUDA_ERROR_INVALID_IMAGE, "{}: section headers at {} are out of range", where, shoff);
    if (shnum == 0) { // extended numbering: the count is in section 0's sh_size
      if (!read(shoff + 32, &shnum, 8))
        return error(CUDA_ERROR_INVALID_IMAGE, "{}: section 0 is not readable", where);
    }
    if (shnum > kMaxImageBytes / shentsize || !extend(shoff, shnum * shentsize))
      return error(CUDA_ERROR_INVALID_IMAGE, "{}: section header table out of range", where);
    for (std::uint64_t i = 0; i < shnum; ++i) {
      std::uint8_t sh[64];
      if (!read(shoff + i * shentsize, sh, sizeof sh))
        return error(CUDA_ERROR_INVALID_IMAGE, "{}: section header {} is not readable", where, i);
      std::uint32_t type;
      std::uint64_t off, size;
      std::memcpy(&type, sh + 4, 4);
      std::memcpy(&off, sh + 24, 8);
      std::memcpy(&size, sh + 32, 8);
      if (type == 8 /*SHT_NOBITS*/ || type == 0 /*SHT_NULL*/)
        continue;
      if (!extend(off, size))
        return error(CUDA_ERROR_INVALID_IMAGE, "{}: section {} ({} bytes at {}) out of range", where, i, size,
                     off);
    }
  }
  if (phoff != 0 && phnum != 0) {
    if (phentsize < 56)
      return error(CUDA_ERROR_INVALID_IMAGE, "{}: program header size {} < 56", where, phentsize);
    if (!extend(phoff, phnum * phentsize))
      return error(CUDA_ERROR_INVALID_IMAGE, "{}: program header table out of range", where);
    for (std::uint64_t i = 0; i < phnum; ++i) {
      std::uint8_t ph[56];
      if (!read(phoff + i * phentsize, ph, sizeof ph))
        return error(CUDA_ERROR_INVALID_IMAGE, "{}: program header {} is not readable", where, i);
      std::uint64_t off, filesz;
      std::memcpy(&off, ph + 8, 8);
      std::memcpy(&filesz, ph + 32, 8);
      if (!extend(off, filesz))
        return error(CUDA_ERROR_INVALID_IMAGE, "{}: segment {} out of range", where, i);
    }
  }
  return end;
}

Status checkElfExtent(std::span<const std::uint8_t> elf, std::string_view what) {
  auto end = elfExtent(
      [elf](std::uint64_t off, void *dst, std::size_t n) {
        auto s = slice(elf, off, n);
        if (s)
          std::memcpy(dst, s->data(), n);
        return s.has_value();
      },
      what);
  if (!end)
    return end.status();
  if (*end > elf.size())
    return error(CUDA_ERROR_INVALID_IMAGE, "{}: truncated ELF: {} bytes, its headers reach {}", what,
                 elf.size(), *end);
  return Status::success();
}

} // namespace detail

namespace {

Expected<std::uint64_t> elfSizeInMemory(const void *p) {
  const auto *base = static_cast<const std::uint8_t *>(p);
  return detail::elfExtent(
      [base](std::uint64_t off, void *dst, std::size_t n) { return safeCopy(dst, base + off, n); },
      fmt::format("ELF image at {}", p));
}

/// Length of the NUL-terminated text at `p` (without the NUL), read page by
/// page so that a string ending just before an unmapped page is still found.
Expected<std::uint64_t> textSizeInMemory(const void *p) {
  constexpr std::uintptr_t kPage = 4096;
  const auto start = reinterpret_cast<std::uintptr_t>(p);
  std::uint8_t buf[kPage];
  std::uint64_t len = 0;
  while (len < detail::kMaxImageBytes) {
    const std::uintptr_t at = start + len;
    const std::size_t chunk = kPage - (at % kPage);
    if (!safeCopy(buf, reinterpret_cast<const void *>(at), chunk))
      return error(CUDA_ERROR_INVALID_IMAGE,
                   "PTX image at {}: unreadable after {} bytes with no terminating NUL", p, len);
    if (const void *nul = std::memchr(buf, 0, chunk))
      return len + static_cast<std::uint64_t>(static_cast<const std::uint8_t *>(nul) - buf);
    len += chunk;
  }
  return error(CUDA_ERROR_INVALID_IMAGE, "PTX image at {}: no terminating NUL within {} bytes", p,
               detail::kMaxImageBytes);
}

} // namespace

namespace detail {

Expected<std::vector<std::uint8_t>> copyContainerFromMemory(const void *p) {
  if (p == nullptr)
    return error(CUDA_ERROR_INVALID_IMAGE, "fatbin wrapper holds a NULL container pointer");
  std::uint8_t hdr[kContainerHeaderBytes];
  if (!safeCopy(hdr, p, sizeof hdr))
    return error(CUDA_ERROR_INVALID_IMAGE, "fatbin container at {} is not readable", p);
  std::uint32_t magic;
  std::uint16_t headerSize;
  std::uint64_t size;
  std::memcpy(&magic, hdr, 4);
  std::memcpy(&headerSize, hdr + 6, 2);
  std::memcpy(&size, hdr + 8, 8);
  if (magic != kFatbinMagic)
    return error(CUDA_ERROR_INVALID_IMAGE, "fatbin container at {}: bad magic {:#x}", p, magic);
  if (headerSize < kContainerHeaderBytes || size > kMaxImageBytes)
    return error(CUDA_ERROR_INVALID_IMAGE, "fatbin container at {}: bad header size {} or size {}", p,
                 headerSize, size);
  return copyBytes(p, headerSize + size, "fatbin");
}

} // namespace detail

Expected<Image> parseFromMemory(const void *image) {
  if (image == nullptr)
    return error(CUDA_ERROR_INVALID_VALUE, "image pointer is NULL");
  auto magic = safeLoad<std::uint32_t>(image);
  if (!magic)
    return error(CUDA_ERROR_INVALID_IMAGE, "image at {} is not readable", image);
  if (*magic == detail::kWrapperMagic) {
    // magic, version, the container pointer and (version 2) the prelinked
    // list; parse() checks and follows them.
    std::uint8_t wrapper[24] = {};
    if (!safeCopy(wrapper, image, 16))
      return error(CUDA_ERROR_INVALID_IMAGE, "fatbin wrapper at {} is truncated", image);
    std::uint32_t version = 0;
    std::memcpy(&version, wrapper + 4, sizeof version);
    if (version == 2 && !safeCopy(wrapper + 16, static_cast<const std::uint8_t *>(image) + 16, 8))
      return error(CUDA_ERROR_INVALID_IMAGE, "fatbin wrapper at {} is truncated", image);
    return parse(std::span<const std::uint8_t>(wrapper, version == 2 ? 24 : 16));
  }
  if (*magic == detail::kFatbinMagic) {
    auto bytes = detail::copyContainerFromMemory(image);
    if (!bytes)
      return bytes.status();
    return detail::parseContainers(*bytes);
  }
  if (*magic == detail::kElfMagicWord) {
    auto size = elfSizeInMemory(image);
    if (!size)
      return size.status();
    auto bytes = copyBytes(image, *size, "ELF");
    if (!bytes)
      return bytes.status();
    return parse(*bytes);
  }
  auto len = textSizeInMemory(image);
  if (!len)
    return len.status();
  auto bytes = copyBytes(image, *len, "PTX");
  if (!bytes)
    return bytes.status();
  return parse(*bytes);
}

} // namespace cuvirt::image

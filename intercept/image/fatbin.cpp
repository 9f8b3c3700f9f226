// Form detection and the fatbin container: entries, zstd and LZ4 payloads.
#include "intercept/image/image_internal.h"
#include "runtime/log.h"
#include <cerrno>
#include <cstdio>
#include <memory>
#include <zstd.h>
#if CUVIRT_HAVE_LZ4
#include <lz4.h>
#endif

namespace cuvirt::image {
namespace detail {
namespace {

bool isSpace(std::uint8_t c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

/// Offset of the first byte after leading whitespace and comments; the size
/// of `t` if only those remain (or a comment is unterminated).
std::size_t skipBlanks(std::span<const std::uint8_t> t) {
  std::size_t i = 0;
  while (i < t.size()) {
    if (isSpace(t[i])) {
      ++i;
    } else if (t[i] == '/' && i + 1 < t.size() && t[i + 1] == '/') {
      while (i < t.size() && t[i] != '\n')
        ++i;
    } else if (t[i] == '/' && i + 1 < t.size() && t[i + 1] == '*') {
      std::size_t j = i + 2;
      while (j + 1 < t.size() && !(t[j] == '*' && t[j + 1] == '/'))
        ++j;
      if (j + 1 >= t.size())
        return t.size();
      i = j + 2;
    } else {
      break;
    }
  }
  return i;
}

bool startsWith(std::span<const std::uint8_t> t, std::string_view word) {
  if (t.size() < word.size() || std::memcmp(t.data(), word.data(), word.size()) != 0)
    return false;
  // The directive must end there: ".versionX" is not ".version".
  return t.size() == word.size() || isSpace(t[word.size()]);
}

/// The N of the first `.target sm_N` / `compute_N` (0 if none); a letter
/// suffix (sm_90a) is ignored.
int ptxTargetArch(std::string_view text) {
  // The directive starts a line (after blanks); one inside a comment does not.
  std::size_t at = 0;
  for (;; at += 7) {
    at = text.find(".target", at);
    if (at == std::string_view::npos)
      return 0;
    std::size_t b = at;
    while (b > 0 && (text[b - 1] == ' ' || text[b - 1] == '\t'))
      --b;
    if (b == 0 || text[b - 1] == '\n')
      break;
  }
  std::size_t i = at + 7;
  while (i < text.size() && (text[i] == ' ' || text[i] == '\t'))
    ++i;
  std::string_view rest = text.substr(i);
  for (std::string_view prefix : {"sm_", "compute_"}) {
    if (rest.substr(0, prefix.size()) == prefix) {
      int arch = 0;
      for (std::size_t k = prefix.size(); k < rest.size() && k < prefix.size() + 4; ++k) {
        if (rest[k] < '0' || rest[k] > '9')
          break;
        arch = arch * 10 + (rest[k] - '0');
      }
      return arch;
    }
  }
  return 0;
}

std::string hexPrefix(std::span<const std::uint8_t> bytes) {
  std::string s;
  for (std::size_t i = 0; i < bytes.size() && i < 8; ++i)
    s += fmt::format("{:02x}", bytes[i]);
  return s.empty() ? "(empty)" : s;
}

/// PTX text of a bare or decompressed payload: up to the first NUL.
std::string ptxText(std::span<const std::uint8_t> bytes) {
  const void *nul = std::memchr(bytes.data(), 0, bytes.size());
  std::size_t n =
      nul ? static_cast<std::size_t>(static_cast<const std::uint8_t *>(nul) - bytes.data()) : bytes.size();
  return {reinterpret_cast<const char *>(bytes.data()), n};
}

Expected<std::string> zstdDecompress(std::span<const std::uint8_t> src, std::uint64_t expected,
                                     std::uint64_t at) {
  // nvcc pads the payload; only the frame itself goes to the decoder.
  std::size_t frame = ZSTD_findFrameCompressedSize(src.data(), src.size());
  if (ZSTD_isError(frame))
    return error(CUDA_ERROR_INVALID_IMAGE, "fatbin entry at {}: corrupt zstd payload ({})", at,
                 ZSTD_getErrorName(frame));
  unsigned long long declared = ZSTD_getFrameContentSize(src.data(), frame);
  if (declared != ZSTD_CONTENTSIZE_UNKNOWN && declared != expected)
    return error(CUDA_ERROR_INVALID_IMAGE,
                 "fatbin entry at {}: zstd frame holds {} bytes, the entry header says {}", at, declared,
                 expected);
  std::unique_ptr<ZSTD_DCtx, decltype(&ZSTD_freeDCtx)> dctx(ZSTD_createDCtx(), ZSTD_freeDCtx);
  if (!dctx)
    return error(CUDA_ERROR_OUT_OF_MEMORY, "cannot create a zstd decoder");
  // Stream into a buffer that grows with the real output, so a lying size
  // field costs no more memory than the data that backs it.
  std::string out(std::min<std::uint64_t>(expected, 1 << 20), '\0');
  ZSTD_inBuffer in{src.data(), frame, 0};
  std::size_t produced = 0;
  for (;;) {
    if (produced == out.size()) {
      if (out.size() >= expected) {
        // Full: any further output means the header lied.
        std::uint8_t probe;
        ZSTD_outBuffer extra{&probe, 1, 0};
        std::size_t r = ZSTD_decompressStream(dctx.get(), &extra, &in);
        if (ZSTD_isError(r))
          return error(CUDA_ERROR_INVALID_IMAGE, "fatbin entry at {}: corrupt zstd payload ({})", at,
                       ZSTD_getErrorName(r));
        if (extra.pos != 0)
          return error(CUDA_ERROR_INVALID_IMAGE,
                       "fatbin entry at {}: zstd payload is larger than the {} bytes the header says", at,
                       expected);
        if (r != 0)
          return error(CUDA_ERROR_INVALID_IMAGE, "fatbin entry at {}: truncated zstd payload", at);
        break;
      }
      out.resize(std::min<std::uint64_t>(expected, out.size() * 2));
    }
    ZSTD_outBuffer ob{out.data(), out.size(), produced};
    std::size_t r = ZSTD_decompressStream(dctx.get(), &ob, &in);
    if (ZSTD_isError(r))
      return error(CUDA_ERROR_INVALID_IMAGE, "fatbin entry at {}: corrupt zstd payload ({})", at,
                   ZSTD_getErrorName(r));
    produced = ob.pos;
    if (r == 0) // frame complete
      break;
    if (in.pos == in.size && ob.pos < ob.size)
      return error(CUDA_ERROR_INVALID_IMAGE, "fatbin entry at {}: truncated zstd payload", at);
  }
  if (produced != expected)
    return error(CUDA_ERROR_INVALID_IMAGE,
                 "fatbin entry at {}: zstd payload gave {} bytes, the header says {}", at, produced,
                 expected);
  return out;
}

/// `exact`: `src` is the whole LZ4 block. Otherwise it may end in zero
/// padding, which the strict decoder rejects: try shorter lengths over it.
Expected<std::string> lz4Decompress(std::span<const std::uint8_t> src, std::uint64_t expected, bool exact,
                                    std::uint64_t at) {
#if CUVIRT_HAVE_LZ4
  // LZ4 cannot expand a byte into more than 255, so a larger claim is corrupt
  // and is refused before allocating for it.
  if (expected > src.size() * 255 + 64)
    return error(CUDA_ERROR_INVALID_IMAGE,
                 "fatbin entry at {}: {} byte LZ4 payload cannot expand to {} bytes", at, src.size(),
                 expected);
  if (src.size() > static_cast<std::size_t>(INT32_MAX))
    return error(CUDA_ERROR_INVALID_IMAGE, "fatbin entry at {}: LZ4 payload too large", at);
  std::string out(expected, '\0');
  const auto *in = reinterpret_cast<const char *>(src.data());
  const int outSize = static_cast<int>(expected);
  int got = LZ4_decompress_safe(in, out.data(), static_cast<int>(src.size()), outSize);
  for (std::size_t trim = 1; !exact && got != outSize && trim <= std::min<std::size_t>(src.size(), 64) &&
                             src[src.size() - trim] == 0;
       ++trim)
    got = LZ4_decompress_safe(in, out.data(), static_cast<int>(src.size() - trim), outSize);
  if (got < 0 || static_cast<std::uint64_t>(got) != expected)
    return error(CUDA_ERROR_INVALID_IMAGE,
                 "fatbin entry at {}: corrupt LZ4 payload (result {}, expected {} bytes)", at, got, expected);
  return out;
#else
  (void)src;
  (void)expected;
  (void)exact;
  return error(CUDA_ERROR_NOT_SUPPORTED,
               "fatbin entry at {} is LZ4-compressed (flag 0x2000) and cuvirt was built without liblz4", at);
#endif
}

/// One entry: header at `at` inside `c`, within the container's entry range.
/// No entry (and no error) for kinds that are not PTX or cubin.
Expected<std::optional<Entry>> parseEntry(std::span<const std::uint8_t> c, std::uint64_t at,
                                          std::uint64_t &next) {
  auto kind = load<std::uint16_t>(c, at);
  auto headerSize = load<std::uint32_t>(c, at + 4);
  auto payloadSize = load<std::uint64_t>(c, at + 8);
  auto packedSize = load<std::uint32_t>(c, at + 16);
  auto arch = load<std::uint32_t>(c, at + 28);
  auto flags = load<std::uint64_t>(c, at + 40);
  auto rawSize = load<std::uint64_t>(c, at + 56);
  if (!rawSize) // the furthest field: all others are in range too
    return error(CUDA_ERROR_INVALID_IMAGE, "fatbin entry at {}: header truncated ({} bytes left)", at,
                 c.size() - std::min<std::uint64_t>(at, c.size()));
  if (*headerSize < kEntryHeaderMinBytes || *headerSize > c.size() - at)
    return error(CUDA_ERROR_INVALID_IMAGE, "fatbin entry at {}: bad header size {}", at, *headerSize);
  auto payload = slice(c, at + *headerSize, *payloadSize);
  if (!payload)
    return error(CUDA_ERROR_INVALID_IMAGE, "fatbin entry at {}: payload of {} bytes runs past the container",
                 at, *payloadSize);
  next = at + *headerSize + *payloadSize;

  Entry e;
  e.arch = static_cast<int>(*arch);
  e.flags = *flags;
  if (*kind == 1)
    e.kind = EntryKind::Ptx;
  else if (*kind == 2)
    e.kind = EntryKind::Cubin;
  else {
    // Other kinds (LTO IR, ...) are not ours to run: skip them.
    log().debug("fatbin entry at {}: skipping entry of kind {}", at, *kind);
    return std::optional<Entry>();
  }

  const bool zstd = (*flags & kEntryFlagZstd) != 0, lz4 = (*flags & kEntryFlagLz4) != 0;
  if (zstd || lz4) {
    if (zstd && lz4)
      return error(CUDA_ERROR_INVALID_IMAGE, "fatbin entry at {}: flags {:#x} claim both zstd and LZ4", at,
                   *flags);
    if (*rawSize == 0 || *rawSize > kMaxImageBytes)
      return error(CUDA_ERROR_INVALID_IMAGE, "fatbin entry at {}: bad uncompressed size {}", at, *rawSize);
    // Offset 16 holds the compressed length without the padding (nvcc 13).
    std::span<const std::uint8_t> packed = *payload;
    const bool exact = *packedSize != 0 && *packedSize <= packed.size();
    if (exact)
      packed = packed.first(*packedSize);
    auto data = zstd ? zstdDecompress(packed, *rawSize, at) : lz4Decompress(packed, *rawSize, exact, at);
    if (!data)
      return data.status();
    e.data = data.take();
  } else {
    e.data.assign(reinterpret_cast<const char *>(payload->data()), payload->size());
  }
  if (e.kind == EntryKind::Ptx) {
    e.data = ptxText(asBytes(e.data));
  } else if (e.data.size() < 64 || std::memcmp(e.data.data(), detail::kElfMagic, 4) != 0) {
    return error(CUDA_ERROR_INVALID_IMAGE, "fatbin entry at {}: cubin payload is not an ELF image", at);
  } else {
    CUVIRT_TRY(checkElfExtent(asBytes(e.data), fmt::format("fatbin entry at {}: cubin", at)));
  }
  return std::optional<Entry>(std::move(e));
}

} // namespace

bool looksLikePtx(std::span<const std::uint8_t> bytes) {
  std::size_t i = skipBlanks(bytes);
  auto rest = bytes.subspan(i);
  for (std::string_view d : {".version", ".target", ".address_size"})
    if (startsWith(rest, d))
      return true;
  return false;
}

Expected<Image> parseContainers(std::span<const std::uint8_t> bytes) {
  Image img;
  std::uint64_t off = 0;
  while (off < bytes.size()) {
    // Containers in .nv_fatbin may be followed by zero padding.
    if (auto word = load<std::uint64_t>(bytes, off); word && *word == 0 && off != 0) {
      off += 8;
      continue;
    }
    if (off != 0 && bytes.size() - off < 8) {
      bool zeros = true;
      for (std::uint64_t i = off; i < bytes.size(); ++i)
        zeros = zeros && bytes[i] == 0;
      if (zeros)
        break;
    }
    auto magic = load<std::uint32_t>(bytes, off);
    auto version = load<std::uint16_t>(bytes, off + 4);
    auto headerSize = load<std::uint16_t>(bytes, off + 6);
    auto size = load<std::uint64_t>(bytes, off + 8);
    if (!size)
      return error(CUDA_ERROR_INVALID_IMAGE, "fatbin container at {}: header truncated ({} bytes left)", off,
                   bytes.size() - off);
    if (*magic != kFatbinMagic)
      return error(CUDA_ERROR_INVALID_IMAGE, "fatbin container at {}: bad magic {:#x}", off, *magic);
    if (*version != 1)
      return error(CUDA_ERROR_INVALID_IMAGE, "fatbin container at {}: unsupported version {}", off, *version);
    if (*headerSize < kContainerHeaderBytes)
      return error(CUDA_ERROR_INVALID_IMAGE, "fatbin container at {}: bad header size {}", off, *headerSize);
    auto body = slice(bytes, off + *headerSize, *size);
    if (!body)
      return error(CUDA_ERROR_INVALID_IMAGE,
                   "fatbin container at {}: {} bytes of entries run past the end of the {} byte image", off,
                   *size, bytes.size());
    std::uint64_t at = 0;
    while (at < body->size()) {
      std::uint64_t next = 0;
      auto e = parseEntry(*body, at, next);
      if (!e)
        return e.status();
      if (*e)
        img.entries.push_back(std::move(**e));
      at = next;
    }
    off += *headerSize + *size;
  }
  if (img.entries.empty())
    return error(CUDA_ERROR_INVALID_IMAGE, "fatbin holds no PTX or cubin entries");
  return img;
}

std::optional<std::span<const std::uint8_t>> hostFatbinSection(std::span<const std::uint8_t> elf) {
  auto shoff = load<std::uint64_t>(elf, 40);
  auto shentsize = load<std::uint16_t>(elf, 58);
  auto shnum = load<std::uint16_t>(elf, 60);
  auto shstrndx = load<std::uint16_t>(elf, 62);
  if (!shstrndx || *shentsize < 64 || *shstrndx >= *shnum)
    return std::nullopt;
  auto sect = [&](std::uint64_t i) { return *shoff + i * *shentsize; };
  auto strOff = load<std::uint64_t>(elf, sect(*shstrndx) + 24);
  auto strSize = load<std::uint64_t>(elf, sect(*shstrndx) + 32);
  if (!strSize)
    return std::nullopt;
  auto names = slice(elf, *strOff, *strSize);
  if (!names)
    return std::nullopt;
  constexpr std::string_view kWanted = ".nv_fatbin";
  for (std::uint64_t i = 0; i < *shnum; ++i) {
    auto name = load<std::uint32_t>(elf, sect(i));
    auto type = load<std::uint32_t>(elf, sect(i) + 4);
    auto off = load<std::uint64_t>(elf, sect(i) + 24);
    auto size = load<std::uint64_t>(elf, sect(i) + 32);
    if (!size || *type == 8 /*SHT_NOBITS*/ || *name >= names->size())
      continue;
    auto n = names->subspan(*name);
    if (n.size() > kWanted.size() && std::memcmp(n.data(), kWanted.data(), kWanted.size()) == 0 &&
        n[kWanted.size()] == 0)
      return slice(elf, *off, *size);
  }
  return std::nullopt;
}

} // namespace detail

using namespace detail;

namespace {
/// A version-2 wrapper's NULL-terminated list of the objects' fatbins. An
/// unreadable entry is skipped: the device-linked image still loads.
std::vector<Image> prelinkedImages(std::uint64_t list) {
  std::vector<Image> out;
  for (std::size_t i = 0; list != 0 && i < 65536; ++i) {
    std::uint64_t p = 0;
    if (!safeCopy(&p, reinterpret_cast<const void *>(list + i * sizeof p), sizeof p) || p == 0)
      break;
    auto container = copyContainerFromMemory(reinterpret_cast<const void *>(p));
    auto img = container ? parseContainers(*container) : Expected<Image>(container.status());
    if (img)
      out.push_back(img.take());
  }
  return out;
}
} // namespace

Expected<Image> parse(std::span<const std::uint8_t> bytes) {
  if (bytes.empty())
    return error(CUDA_ERROR_INVALID_IMAGE, "empty image");
  auto magic = load<std::uint32_t>(bytes, 0);
  if (magic && *magic == kWrapperMagic) {
    auto version = load<std::uint32_t>(bytes, 4);
    auto ptr = load<std::uint64_t>(bytes, 8);
    if (!ptr)
      return error(CUDA_ERROR_INVALID_IMAGE, "fatbin wrapper truncated: {} bytes", bytes.size());
    if (*version != 1 && *version != 2)
      return error(CUDA_ERROR_INVALID_IMAGE, "fatbin wrapper: unsupported version {}", *version);
    auto container = copyContainerFromMemory(reinterpret_cast<const void *>(*ptr));
    if (!container)
      return container.status();
    auto img = parseContainers(*container);
    if (img && *version == 2)
      img->prelinked = prelinkedImages(load<std::uint64_t>(bytes, 16).value_or(0));
    return img;
  }
  if (magic && *magic == kFatbinMagic)
    return parseContainers(bytes);
  if (magic && *magic == kElfMagicWord) {
    auto cls = load<std::uint8_t>(bytes, 4);
    auto data = load<std::uint8_t>(bytes, 5);
    auto machine = load<std::uint16_t>(bytes, 18);
    auto flags = load<std::uint32_t>(bytes, 48);
    if (!flags || bytes.size() < 64)
      return error(CUDA_ERROR_INVALID_IMAGE, "ELF image truncated: {} bytes", bytes.size());
    if (*cls != 2 || *data != 1)
      return error(CUDA_ERROR_INVALID_IMAGE, "ELF image is not little-endian 64-bit (class {}, data {})",
                   *cls, *data);
    if (*machine != kEmCuda)
      return error(CUDA_ERROR_INVALID_IMAGE, "ELF image is for machine {}, not a CUDA cubin (190)", *machine);
    CUVIRT_TRY(checkElfExtent(bytes, "cubin"));
    Entry e;
    e.kind = EntryKind::Cubin;
    e.arch = static_cast<int>((*flags >> 8) & 0xff); // sm_75: e_flags 0x6004b04
    e.data.assign(reinterpret_cast<const char *>(bytes.data()), bytes.size());
    Image img;
    img.entries.push_back(std::move(e));
    return img;
  }
  if (looksLikePtx(bytes)) {
    Entry e;
    e.kind = EntryKind::Ptx;
    e.data = ptxText(bytes);
    e.arch = ptxTargetArch(e.data);
    Image img;
    img.entries.push_back(std::move(e));
    return img;
  }
  return error(CUDA_ERROR_INVALID_IMAGE,
               "unrecognised image (first bytes {}): not a fatbin, fatbin wrapper, cubin or PTX text",
               hexPrefix(bytes));
}

Expected<Image> parseFile(const std::string &path) {
  std::unique_ptr<std::FILE, decltype(&std::fclose)> f(std::fopen(path.c_str(), "rb"), std::fclose);
  if (!f)
    return error(CUDA_ERROR_FILE_NOT_FOUND, "cannot open image file '{}': {}", path, std::strerror(errno));
  std::vector<std::uint8_t> bytes;
  std::uint8_t buf[1 << 16];
  for (;;) {
    std::size_t n = std::fread(buf, 1, sizeof buf, f.get());
    bytes.insert(bytes.end(), buf, buf + n);
    if (bytes.size() > kMaxImageBytes)
      return error(CUDA_ERROR_INVALID_IMAGE, "image file '{}' is larger than {} bytes", path, kMaxImageBytes);
    if (n < sizeof buf)
      break;
  }
  if (std::ferror(f.get()))
    return error(CUDA_ERROR_FILE_NOT_FOUND, "cannot read image file '{}'", path);
  std::span<const std::uint8_t> view(bytes);
  // A host executable: its device code is in .nv_fatbin.
  auto machine = load<std::uint16_t>(view, 18);
  if (bytes.size() >= 64 && std::memcmp(bytes.data(), detail::kElfMagic, 4) == 0 && machine &&
      *machine != kEmCuda) {
    if (auto section = hostFatbinSection(view))
      return parseContainers(*section);
  }
  auto img = parse(view);
  if (!img)
    return error(img.status().code(), "{}: {}", path, lastErrorMessage());
  return img;
}

} // namespace cuvirt::image

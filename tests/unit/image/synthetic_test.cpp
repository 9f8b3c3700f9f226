// Form detection and fatbin containers built by hand: compression, padding,
// several containers, and corruption of every byte.
#include "runtime/status.h"
#include "test_util.h"
#include <zstd.h>

using namespace cuvirt;
using namespace imgtest;

namespace {

Bytes smallFatbin() {
  Bytes ptx = textBytes(kSmallPtx);
  Bytes packed = zstdCompress(ptx);
  return makeContainer({makeEntry({.kind = 1, .arch = 75, .payload = textBytes(kSmallPtx)}),
                        makeEntry({.kind = 1,
                                   .arch = 86,
                                   .flags = 0x8011,
                                   .rawSize = ptx.size(),
                                   .packedSize = static_cast<std::uint32_t>(packed.size()),
                                   .headerSize = 80,
                                   .payload = packed})});
}

} // namespace

TEST_CASE("PTX text: comments and whitespace before .version, NULs trimmed, arch from .target") {
  std::string text = std::string("  \n/* block\n comment */\n") + kSmallPtx;
  Bytes b = textBytes(text);
  b.push_back(0);
  b.push_back(0);
  auto img = image::parse(b);
  REQUIRE(img.ok());
  REQUIRE(img->entries.size() == 1);
  CHECK(img->entries[0].kind == image::EntryKind::Ptx);
  CHECK(img->entries[0].arch == 75);
  CHECK(img->entries[0].data == text);
  CHECK(img->entries[0].flags == 0);

  auto sm90a = image::parse(
      textBytes("// was .target sm_50\n.version 8.0\n  .target sm_90a\n.address_size 64\n", false));
  REQUIRE(sm90a.ok());
  CHECK(sm90a->entries[0].arch == 90);
}

TEST_CASE("unrecognised bytes are INVALID_IMAGE with a message") {
  for (std::string junk : {"hello world", "// only a comment\n", ".versionX 9.0\n",
                           "/* unterminated .version", "\x01\x02\x03", " "}) {
    auto img = image::parse(textBytes(junk, false));
    CHECK_MESSAGE(isInvalidImage(img.status()), junk);
    CHECK(!lastErrorMessage().empty());
  }
  CHECK(isInvalidImage(image::parse({}).status()));
}

TEST_CASE("ELF that is not a 64-bit CUDA cubin is INVALID_IMAGE") {
  Bytes elf(64, 0);
  std::memcpy(elf.data(), "\x7f\x45LF", 4);
  elf[4] = 2;                      // 64-bit
  elf[5] = 1;                      // little-endian
  put<std::uint16_t>(elf, 18, 62); // EM_X86_64
  auto host = image::parse(elf);
  CHECK(isInvalidImage(host.status()));
  CHECK(lastErrorMessage().find("62") != std::string::npos);
  put<std::uint16_t>(elf, 18, 190);
  put<std::uint32_t>(elf, 48, 0x6005a04); // sm_90
  auto cubin = image::parse(elf);
  REQUIRE(cubin.ok());
  CHECK(cubin->entries[0].kind == image::EntryKind::Cubin);
  CHECK(cubin->entries[0].arch == 90);
  elf[4] = 1; // 32-bit
  CHECK(isInvalidImage(image::parse(elf).status()));
  CHECK(isInvalidImage(image::parse(Bytes(elf.begin(), elf.begin() + 40)).status()));
}

TEST_CASE("synthetic fatbin: plain and zstd entries") {
  Bytes fb = smallFatbin();
  auto img = image::parse(fb);
  REQUIRE(img.ok());
  REQUIRE(img->entries.size() == 2);
  CHECK(img->entries[0].arch == 75);
  CHECK(img->entries[1].arch == 86);
  CHECK(img->entries[1].flags == 0x8011);
  CHECK(img->entries[0].data == kSmallPtx);
  CHECK(img->entries[1].data == kSmallPtx);
}

TEST_CASE("zstd entry without the packed-size field still decodes past the padding") {
  Bytes ptx = textBytes(kSmallPtx);
  Bytes fb = makeContainer(
      {makeEntry({.kind = 1, .flags = 0x8011, .rawSize = ptx.size(), .payload = zstdCompress(ptx)})});
  auto img = image::parse(fb);
  REQUIRE(img.ok());
  CHECK(img->entries[0].data == kSmallPtx);
}

TEST_CASE("zstd entry whose header lies about the size is INVALID_IMAGE") {
  Bytes ptx = textBytes(kSmallPtx);
  Bytes packed = zstdCompress(ptx);
  for (std::uint64_t raw :
       {ptx.size() - 1, ptx.size() + 1, std::uint64_t{0}, std::uint64_t{1} << 31, ~std::uint64_t{0}}) {
    Bytes fb = makeContainer({makeEntry({.kind = 1, .flags = 0x8011, .rawSize = raw, .payload = packed})});
    auto img = image::parse(fb);
    CHECK_MESSAGE(isInvalidImage(img.status()), "rawSize " << raw);
  }
}

TEST_CASE("zstd frame without a content size: the decoded length is still checked") {
  Bytes ptx = textBytes(kSmallPtx);
  ZSTD_CCtx *cctx = ZSTD_createCCtx();
  REQUIRE(cctx != nullptr);
  ZSTD_CCtx_setParameter(cctx, ZSTD_c_contentSizeFlag, 0);
  Bytes packed(ZSTD_compressBound(ptx.size()));
  std::size_t n = ZSTD_compress2(cctx, packed.data(), packed.size(), ptx.data(), ptx.size());
  ZSTD_freeCCtx(cctx);
  REQUIRE(!ZSTD_isError(n));
  packed.resize(n);
  REQUIRE(ZSTD_getFrameContentSize(packed.data(), packed.size()) == ZSTD_CONTENTSIZE_UNKNOWN);
  auto entry = [&](std::uint64_t raw) {
    return makeContainer({makeEntry({.kind = 1, .flags = 0x8011, .rawSize = raw, .payload = packed})});
  };
  auto ok = image::parse(entry(ptx.size()));
  REQUIRE(ok.ok());
  CHECK(ok->entries[0].data == kSmallPtx);
  CHECK(isInvalidImage(image::parse(entry(ptx.size() - 1)).status()));
  CHECK(isInvalidImage(image::parse(entry(ptx.size() + 1)).status()));
  CHECK(isInvalidImage(image::parse(entry(std::uint64_t{1} << 29)).status()));
}

TEST_CASE("LZ4 entries (flag 0x2000)") {
  Bytes ptx = textBytes(kSmallPtx);
  Bytes packed = lz4Compress(ptx);
  Bytes fb = makeContainer({makeEntry({.kind = 1,
                                       .flags = 0x2011,
                                       .rawSize = ptx.size(),
                                       .packedSize = static_cast<std::uint32_t>(packed.size()),
                                       .payload = packed})});
  auto img = image::parse(fb);
#if CUVIRT_HAVE_LZ4
  REQUIRE(img.ok());
  CHECK(img->entries[0].data == kSmallPtx);
  // Without the packed-size field the padding after the block is tolerated.
  Bytes padded = packed;
  padded.resize(packed.size() + 5, 0);
  auto unsized = image::parse(
      makeContainer({makeEntry({.kind = 1, .flags = 0x2011, .rawSize = ptx.size(), .payload = padded})}));
  REQUIRE(unsized.ok());
  CHECK(unsized->entries[0].data == kSmallPtx);
  auto unsizedLie = image::parse(
      makeContainer({makeEntry({.kind = 1, .flags = 0x2011, .rawSize = ptx.size() + 1, .payload = padded})}));
  CHECK(isInvalidImage(unsizedLie.status()));
  // Lying sizes.
  for (std::uint64_t raw : {ptx.size() - 1, ptx.size() + 1, std::uint64_t{1} << 30}) {
    Bytes bad = makeContainer({makeEntry({.kind = 1,
                                          .flags = 0x2011,
                                          .rawSize = raw,
                                          .packedSize = static_cast<std::uint32_t>(packed.size()),
                                          .payload = packed})});
    CHECK_MESSAGE(isInvalidImage(image::parse(bad).status()), "rawSize " << raw);
  }
#else
  CHECK(img.status().code() == CUDA_ERROR_NOT_SUPPORTED);
  CHECK(lastErrorMessage().find("LZ4") != std::string::npos);
#endif
}

TEST_CASE("both compression flags set is INVALID_IMAGE") {
  Bytes ptx = textBytes(kSmallPtx);
  Bytes fb = makeContainer(
      {makeEntry({.kind = 1, .flags = 0xa011, .rawSize = ptx.size(), .payload = zstdCompress(ptx)})});
  CHECK(isInvalidImage(image::parse(fb).status()));
}

TEST_CASE("several containers back to back, with zero padding between, all parse") {
  Bytes a = makeContainer({makeEntry({.kind = 1, .arch = 75, .payload = textBytes(kSmallPtx)})});
  Bytes b = makeContainer({makeEntry({.kind = 1, .arch = 80, .payload = textBytes(kSmallPtx)})});
  Bytes both = a;
  both.insert(both.end(), 16, 0);
  both.insert(both.end(), b.begin(), b.end());
  both.insert(both.end(), 8, 0);
  auto img = image::parse(both);
  REQUIRE(img.ok());
  REQUIRE(img->entries.size() == 2);
  CHECK(img->entries[0].arch == 75);
  CHECK(img->entries[1].arch == 80);
  // Garbage after the last container is not padding.
  both.push_back(0x42);
  CHECK(isInvalidImage(image::parse(both).status()));
}

TEST_CASE("entries of unknown kind are skipped; a fatbin of only those is INVALID_IMAGE") {
  Bytes other = makeEntry({.kind = 8, .payload = Bytes(24, 0xee)});
  Bytes ptx = makeEntry({.kind = 1, .payload = textBytes(kSmallPtx)});
  auto img = image::parse(makeContainer({other, ptx}));
  REQUIRE(img.ok());
  REQUIRE(img->entries.size() == 1);
  CHECK(img->entries[0].data == kSmallPtx);
  CHECK(isInvalidImage(image::parse(makeContainer({other})).status()));
}

TEST_CASE("a cubin entry whose payload is not ELF is INVALID_IMAGE") {
  CHECK(isInvalidImage(
      image::parse(makeContainer({makeEntry({.kind = 2, .payload = Bytes(128, 1)})})).status()));
}

TEST_CASE("every prefix of a small fatbin is INVALID_IMAGE") {
  Bytes fb = smallFatbin();
  REQUIRE(image::parse(fb).ok());
  for (std::size_t n = 0; n < fb.size(); ++n) {
    auto img = image::parse(std::span<const std::uint8_t>(fb.data(), n));
    CHECK_MESSAGE(isInvalidImage(img.status()), "prefix " << n);
  }
}

TEST_CASE("flipping any byte of a small fatbin never crashes; header flips are caught") {
  Bytes fb = smallFatbin();
  int failures = 0, runs = 0;
  for (std::size_t i = 0; i < fb.size(); ++i) {
    for (std::uint8_t mask : {0x01, 0x10, 0x80, 0xff}) {
      Bytes bad = fb;
      bad[i] ^= mask;
      auto img = image::parse(bad);
      ++runs;
      if (!img.ok()) {
        ++failures;
        CHECK_MESSAGE(isInvalidImage(img.status()),
                      "byte " << i << " mask " << int(mask) << ": " << lastErrorMessage());
      }
    }
  }
  // The container magic, sizes and entry header sizes cannot be flipped unnoticed.
  for (std::size_t i : {0, 3, 8, 9, 16 + 4, 16 + 8}) {
    Bytes bad = fb;
    bad[i] ^= 0xff;
    CHECK_MESSAGE(isInvalidImage(image::parse(bad).status()), "byte " << i);
  }
  CHECK(failures > runs / 10);
}

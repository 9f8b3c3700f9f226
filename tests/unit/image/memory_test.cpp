// Images reached through bare pointers: safeCopy, parseFromMemory, the fatbin
// wrapper, and images that end right at (or run into) an unmapped page.
#include "intercept/image/image_internal.h"
#include "runtime/status.h"
#include "test_util.h"
#include <sys/mman.h>
#include <unistd.h>

using namespace cuvirt;
using namespace imgtest;

namespace {

/// Two pages: the first readable and writable, the second PROT_NONE.
struct GuardedPages {
  std::size_t page = static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
  std::uint8_t *base = nullptr;
  GuardedPages() {
    void *p = mmap(nullptr, 2 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    REQUIRE(p != MAP_FAILED);
    base = static_cast<std::uint8_t *>(p);
    REQUIRE(mprotect(base + page, page, PROT_NONE) == 0);
  }
  ~GuardedPages() { munmap(base, 2 * page); }
  std::uint8_t *guard() const { return base + page; }
  /// Places `b` so that it ends exactly at the guard page.
  const std::uint8_t *placeAtEnd(const Bytes &b) const {
    REQUIRE(b.size() <= page);
    std::uint8_t *at = guard() - b.size();
    std::memcpy(at, b.data(), b.size());
    return at;
  }
};

Bytes smallFatbin() {
  return makeContainer({makeEntry({.kind = 1, .arch = 75, .payload = textBytes(kSmallPtx)})});
}

} // namespace

TEST_CASE("safeCopy copies readable memory and refuses unmapped memory") {
  GuardedPages m;
  for (std::size_t i = 0; i < 64; ++i)
    m.base[m.page - 64 + i] = static_cast<std::uint8_t>(i * 3);
  std::uint8_t out[64] = {};
  REQUIRE(image::safeCopy(out, m.guard() - 64, 64));
  for (std::size_t i = 0; i < 64; ++i)
    CHECK(out[i] == static_cast<std::uint8_t>(i * 3));
  CHECK_FALSE(image::safeCopy(out, m.guard(), 1));
  CHECK_FALSE(image::safeCopy(out, m.guard() - 8, 16)); // straddles into the guard
  CHECK_FALSE(image::safeCopy(out, nullptr, 4));
  CHECK(image::safeCopy(out, m.guard(), 0));
}

TEST_CASE("safeCopy's pipe fallback behaves the same") {
  GuardedPages m;
  for (std::size_t i = 0; i < m.page; ++i)
    m.base[i] = static_cast<std::uint8_t>(i * 7);
  Bytes out(m.page);
  REQUIRE(image::detail::pipeCopy(out.data(), m.base, m.page)); // more than one pipe chunk
  for (std::size_t i = 0; i < m.page; ++i)
    REQUIRE(out[i] == static_cast<std::uint8_t>(i * 7));
  CHECK_FALSE(image::detail::pipeCopy(out.data(), m.guard(), 1));
  CHECK_FALSE(image::detail::pipeCopy(out.data(), m.guard() - 100, 200));
}

TEST_CASE("parseFromMemory: NULL is INVALID_VALUE, an unmapped page is INVALID_IMAGE") {
  CHECK(image::parseFromMemory(nullptr).status().code() == CUDA_ERROR_INVALID_VALUE);
  GuardedPages m;
  CHECK(isInvalidImage(image::parseFromMemory(m.guard()).status()));
  CHECK(!lastErrorMessage().empty());
  void *none = mmap(nullptr, m.page, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  REQUIRE(none != MAP_FAILED);
  CHECK(isInvalidImage(image::parseFromMemory(none).status()));
  munmap(none, m.page);
}

TEST_CASE("parseFromMemory: a fatbin ending at an unmapped page parses; a longer claim does not") {
  GuardedPages m;
  Bytes fb = smallFatbin();
  auto img = image::parseFromMemory(m.placeAtEnd(fb));
  REQUIRE(img.ok());
  REQUIRE(img->entries.size() == 1);
  CHECK(img->entries[0].data == kSmallPtx);

  Bytes longer = fb;
  put<std::uint64_t>(longer, 8, fb.size()); // 16 bytes more than there are
  CHECK(isInvalidImage(image::parseFromMemory(m.placeAtEnd(longer)).status()));
  // Only the 16-byte header is mapped.
  CHECK(isInvalidImage(image::parseFromMemory(m.placeAtEnd(Bytes(fb.begin(), fb.begin() + 16))).status()));
}

TEST_CASE("parseFromMemory: PTX text is read up to its NUL, not past it") {
  GuardedPages m;
  Bytes ptx = textBytes(kSmallPtx);
  auto img = image::parseFromMemory(m.placeAtEnd(ptx));
  REQUIRE(img.ok());
  CHECK(img->entries[0].data == kSmallPtx);
  // Text that runs into the guard page with no NUL.
  CHECK(isInvalidImage(image::parseFromMemory(m.placeAtEnd(textBytes(kSmallPtx, false))).status()));
  // Text spanning a whole page before its NUL (the chunked scan crosses pages).
  std::string big = std::string(kSmallPtx) + "//" + std::string(6000, 'x') + "\n";
  Bytes bigBytes = textBytes(big);
  auto bigImg = image::parseFromMemory(bigBytes.data());
  REQUIRE(bigImg.ok());
  CHECK(bigImg->entries[0].data == big);
}

TEST_CASE("fatbin wrapper: parse() and parseFromMemory() follow its pointer") {
  Bytes fb = smallFatbin();
  for (std::uint32_t version : {1u, 2u}) {
    Wrapper w;
    w.version = version;
    w.data = fb.data();
    auto bytes = std::span<const std::uint8_t>(reinterpret_cast<const std::uint8_t *>(&w), sizeof w);
    auto a = image::parse(bytes);
    auto b = image::parseFromMemory(&w);
    REQUIRE(a.ok());
    REQUIRE(b.ok());
    REQUIRE(a->entries.size() == 1);
    REQUIRE(b->entries.size() == 1);
    CHECK(a->entries[0].data == kSmallPtx);
    CHECK(b->entries[0].data == kSmallPtx);
  }
  Wrapper bad;
  bad.version = 7;
  bad.data = fb.data();
  CHECK(isInvalidImage(image::parseFromMemory(&bad).status()));
  CHECK(isInvalidImage(
      image::parse(std::span<const std::uint8_t>(reinterpret_cast<const std::uint8_t *>(&bad), sizeof bad))
          .status()));
}

TEST_CASE("fatbin wrapper pointing at NULL, unmapped or truncated data is INVALID_IMAGE") {
  GuardedPages m;
  Wrapper w;
  auto parseW = [&] {
    return image::parse(std::span<const std::uint8_t>(reinterpret_cast<const std::uint8_t *>(&w), sizeof w));
  };
  w.data = nullptr;
  CHECK(isInvalidImage(parseW().status()));
  CHECK(isInvalidImage(image::parseFromMemory(&w).status()));
  w.data = m.guard();
  CHECK(isInvalidImage(parseW().status()));
  CHECK(isInvalidImage(image::parseFromMemory(&w).status()));
  Bytes fb = smallFatbin();
  w.data = m.placeAtEnd(Bytes(fb.begin(), fb.end() - 8));
  CHECK(isInvalidImage(parseW().status()));
  // The wrapper itself cut short.
  CHECK(isInvalidImage(
      image::parse(std::span<const std::uint8_t>(reinterpret_cast<const std::uint8_t *>(&w), 12)).status()));
  // A wrapper whose own pointer field lies in the guard page.
  Wrapper tail;
  tail.data = fb.data();
  const std::uint8_t *placed = m.placeAtEnd(Bytes(reinterpret_cast<const std::uint8_t *>(&tail),
                                                  reinterpret_cast<const std::uint8_t *>(&tail) + 8));
  CHECK(isInvalidImage(image::parseFromMemory(placed).status()));
}

TEST_CASE("parseFile: a missing file is FILE_NOT_FOUND; a PTX file parses") {
  CHECK(image::parseFile("/nonexistent/cuvirt/image.ptx").status().code() == CUDA_ERROR_FILE_NOT_FOUND);
  char path[] = "/tmp/cuvirt_image_testXXXXXX";
  int fd = mkstemp(path);
  REQUIRE(fd >= 0);
  std::string text = kSmallPtx;
  REQUIRE(write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()));
  close(fd);
  auto img = image::parseFile(path);
  unlink(path);
  REQUIRE(img.ok());
  CHECK(img->entries[0].data == kSmallPtx);
}

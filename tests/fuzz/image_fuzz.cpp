// libFuzzer target for the image parsers: parse() on arbitrary bytes, then
// cubinInfo() on every cubin it yields (and on the input itself). Built and
// run by run_image_fuzz.sh; not part of the default build (needs clang).
#include "intercept/image/image.h"
#include "runtime/log.h"
#include <cstring>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size) {
  static const bool quiet = [] {
    cuvirt::log().set_level(spdlog::level::off);
    return true;
  }();
  (void)quiet;
  std::span<const std::uint8_t> bytes(data, size);
  // A fatbin wrapper holds a raw pointer: following fuzzed addresses only
  // exercises safeCopy, which has its own tests, and makes runs irreproducible.
  const std::uint32_t wrapperMagic = 0x466243b1;
  if (size >= 4 && std::memcmp(data, &wrapperMagic, 4) == 0)
    return 0;
  auto img = cuvirt::image::parse(bytes);
  if (img.ok()) {
    for (const auto &e : img->entries) {
      if (e.kind != cuvirt::image::EntryKind::Cubin)
        continue;
      auto info = cuvirt::image::cubinInfo(
          std::span(reinterpret_cast<const std::uint8_t *>(e.data.data()), e.data.size()));
      (void)info;
    }
  }
  auto info = cuvirt::image::cubinInfo(bytes);
  (void)info;
  return 0;
}

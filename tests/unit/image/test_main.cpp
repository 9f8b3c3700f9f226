// doctest runner for the image tests. A green run without nvcc fixtures exits
// 77, which meson reports as SKIP, so a machine without the toolkit cannot
// pass the fixture tests by not running them.
#define DOCTEST_CONFIG_IMPLEMENT
#include "runtime/log.h"
#include "test_util.h"
#include <cstdio>
#include <cstdlib>
#include <zstd.h>
#if CUVIRT_HAVE_LZ4
#include <lz4.h>
#endif

namespace imgtest {

Bytes zstdCompress(const Bytes &raw) {
  Bytes out(ZSTD_compressBound(raw.size()));
  std::size_t n = ZSTD_compress(out.data(), out.size(), raw.data(), raw.size(), 3);
  REQUIRE(!ZSTD_isError(n));
  out.resize(n);
  return out;
}

Bytes lz4Compress(const Bytes &raw) {
#if CUVIRT_HAVE_LZ4
  Bytes out(LZ4_compressBound(static_cast<int>(raw.size())));
  int n =
      LZ4_compress_default(reinterpret_cast<const char *>(raw.data()), reinterpret_cast<char *>(out.data()),
                           static_cast<int>(raw.size()), static_cast<int>(out.size()));
  REQUIRE(n > 0);
  out.resize(static_cast<std::size_t>(n));
  return out;
#else
  (void)raw;
  return {};
#endif
}

} // namespace imgtest

int main(int argc, char **argv) {
  // Thousands of deliberately corrupt images would each log a warning.
  if (!std::getenv("CUVIRT_LOG"))
    cuvirt::log().set_level(spdlog::level::off);
  doctest::Context ctx;
  ctx.applyCommandLine(argc, argv);
  int rc = ctx.run();
  if (ctx.shouldExit() || rc != 0)
    return rc;
#if !CUVIRT_IMAGE_HAVE_FIXTURES
  std::fprintf(stderr,
               "\n*** image tests: SKIPPED the nvcc-built fixture tests: nvcc, ptxas or objcopy was not "
               "found when meson configured this build. Install the CUDA Toolkit and reconfigure. ***\n");
  return 77;
#else
  return 0;
#endif
}

// The device address window: ranges are reused and coalesced.
#include "runtime/runtime.h"
#include <doctest.h>

using namespace cuvirt;

TEST_CASE("freed ranges are reused, neighbours coalesce, the top returns to the bump region") {
  AddressWindow w;
  REQUIRE(w.reserve(std::size_t(1) << 30).ok());
  const std::uint64_t a = w.take(4096), b = w.take(4096), c = w.take(8192);
  CHECK(a != 0);
  CHECK(b == a + 4096);
  CHECK(c == b + 4096);
  const std::uint64_t top = w.highWater();
  w.give(a, 4096);
  w.give(b, 4096); // coalesces with a into 8 KiB
  CHECK(w.take(8192) == a);
  w.give(a, 8192);
  w.give(c, 8192); // the top: the bump pointer moves back
  CHECK(w.highWater() < top);
  CHECK(w.take(16384) == a);
}

TEST_CASE("a full window says so") {
  AddressWindow w;
  REQUIRE(w.reserve(1 << 20).ok());
  CHECK(w.take(std::size_t(1) << 21) == 0);
}

// Shared helpers for the image tests: fixture files built by nvcc, and
// hand-built fatbin containers for the cases nvcc never produces.
#pragma once
#include "intercept/image/image.h"
#include <cstdint>
#include <cstring>
#include <doctest.h>
#include <fstream>
#include <iterator>
#include <optional>
#include <string>
#include <vector>

namespace imgtest {

using Bytes = std::vector<std::uint8_t>;

/// False (and says so in the doctest output) when nvcc was not found at
/// configure time; test_main then turns an otherwise green run into SKIP.
inline bool haveFixtures() {
#if CUVIRT_IMAGE_HAVE_FIXTURES
  return true;
#else
  MESSAGE("SKIPPED: nvcc/ptxas/objcopy were not found at configure time; this fixture test did not run");
  return false;
#endif
}

inline std::string fixturePath(const std::string &name) {
  return std::string(CUVIRT_IMAGE_FIXTURES) + "/" + name;
}

/// Reads a fixture; fails the test (not just skips) if it is missing.
inline Bytes fixture(const std::string &name) {
  std::ifstream in(fixturePath(name), std::ios::binary);
  REQUIRE_MESSAGE(in.good(), "missing fixture " << fixturePath(name));
  return Bytes(std::istreambuf_iterator<char>(in), {});
}

inline std::string str(const Bytes &b) { return {b.begin(), b.end()}; }

template <class T> void put(Bytes &b, std::size_t off, T v) {
  if (b.size() < off + sizeof v)
    b.resize(off + sizeof v);
  std::memcpy(b.data() + off, &v, sizeof v);
}

struct EntrySpec {
  std::uint16_t kind = 1;
  std::uint32_t arch = 75;
  std::uint64_t flags = 0x11;
  std::uint64_t rawSize = 0;    ///< offset 56
  std::uint32_t packedSize = 0; ///< offset 16
  std::uint32_t headerSize = 64;
  Bytes payload;
};

/// One fatbin entry: header as nvcc 13 writes it, then the payload padded to 8.
inline Bytes makeEntry(const EntrySpec &e) {
  Bytes b(e.headerSize, 0);
  Bytes payload = e.payload;
  payload.resize((payload.size() + 7) / 8 * 8, 0);
  put<std::uint16_t>(b, 0, e.kind);
  put<std::uint16_t>(b, 2, 0x101);
  put<std::uint32_t>(b, 4, e.headerSize);
  put<std::uint64_t>(b, 8, payload.size());
  put<std::uint32_t>(b, 16, e.packedSize);
  put<std::uint16_t>(b, 24, 0);
  put<std::uint16_t>(b, 26, 9);
  put<std::uint32_t>(b, 28, e.arch);
  put<std::uint64_t>(b, 40, e.flags);
  put<std::uint64_t>(b, 56, e.rawSize);
  b.insert(b.end(), payload.begin(), payload.end());
  return b;
}

inline Bytes makeContainer(const std::vector<Bytes> &entries) {
  Bytes body;
  for (const Bytes &e : entries)
    body.insert(body.end(), e.begin(), e.end());
  Bytes b;
  put<std::uint32_t>(b, 0, 0xBA55ED50);
  put<std::uint16_t>(b, 4, 1);
  put<std::uint16_t>(b, 6, 16);
  put<std::uint64_t>(b, 8, body.size());
  b.insert(b.end(), body.begin(), body.end());
  return b;
}

inline Bytes textBytes(const std::string &s, bool nul = true) {
  Bytes b(s.begin(), s.end());
  if (nul)
    b.push_back(0);
  return b;
}

inline const char *kSmallPtx = "//\n// hand-written\n//\n\n.version 9.0\n.target sm_75\n.address_size 64\n\n"
                               ".visible .entry k(.param .u32 n)\n{\n  ret;\n}\n";

/// A zstd-compressed payload (level 3) of `raw`.
Bytes zstdCompress(const Bytes &raw);
/// An LZ4 block of `raw` (empty when built without liblz4).
Bytes lz4Compress(const Bytes &raw);

/// The fatbin wrapper struct cudart passes to the driver.
struct Wrapper {
  std::uint32_t magic = 0x466243b1;
  std::uint32_t version = 1;
  const void *data = nullptr;
  const void *unused = nullptr;
};

inline std::string trimLeft(const std::string &s) {
  std::size_t i = s.find_first_not_of(" \t\r\n");
  return i == std::string::npos ? std::string() : s.substr(i);
}

inline bool isInvalidImage(const cuvirt::Status &s) { return s.code() == CUDA_ERROR_INVALID_IMAGE; }

} // namespace imgtest

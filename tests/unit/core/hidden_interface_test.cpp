// The hidden interface cudart needs: MD2, the integrity check, context
// local storage, and the table lookups.
#include "cuvirt_api.h"
#include "intercept/export_tables.h"
#include "intercept/md2.h"
#include <cstring>
#include <doctest.h>
#include <pthread.h>
#include <string>
#include <unistd.h>

using namespace cuvirt;

namespace {
std::string hex(const Md2Digest &d) {
  static const char *digits = "0123456789abcdef";
  std::string s;
  for (auto b : d) {
    s += digits[b >> 4];
    s += digits[b & 15];
  }
  return s;
}
std::string md2Of(const char *text) {
  return hex(md2({reinterpret_cast<const std::uint8_t *>(text), std::strlen(text)}));
}
using Slot = void *;
} // namespace

TEST_CASE("MD2 matches RFC 1319's test suite") {
  CHECK(md2Of("") == "8350e5a3e24c153df2275c9f80692773");
  CHECK(md2Of("a") == "32ec01ec4a6dac72c0ab96fb34c0b5d1");
  CHECK(md2Of("abc") == "da853b0d3f88d99b30283a69e6ded6bb");
  CHECK(md2Of("message digest") == "ab4f496bfb2a530b219ff33031fe06b0");
  CHECK(md2Of("abcdefghijklmnopqrstuvwxyz") == "4e8ddff3650292ab5a4108c3aa47940b");
  CHECK(md2Of("12345678901234567890123456789012345678901234567890123456789012345678901234567890") ==
        "d5976f79d83d3a0dc9806c3c66f3efd8");
}

TEST_CASE("every table cudart requires is there; unknown ones are refused") {
  const void *table = nullptr;
  for (const CUuuid &id : {kCudartInterfaceId, kToolsRuntimeCallbackHooksId, kToolsTlsId,
                           kContextLocalStorageId, kContextChecksId, kIntegrityCheckId, kContextStreamId}) {
    CHECK(api::cuGetExportTable(&table, &id) == CUDA_SUCCESS);
    CHECK(table != nullptr);
  }
  CUuuid unknown{};
  CHECK(api::cuGetExportTable(&table, &unknown) == CUDA_ERROR_NOT_FOUND);
  CHECK(api::cuGetExportTable(nullptr, &unknown) == CUDA_ERROR_INVALID_VALUE);
}

TEST_CASE("the tools hooks table is at least 56 bytes and hands out buffers") {
  auto *t = static_cast<Slot const *>(exportTable(kToolsRuntimeCallbackHooksId));
  CHECK(reinterpret_cast<std::uintptr_t>(t[0]) >= 56);
  void *buffer = nullptr;
  std::size_t size = 0;
  reinterpret_cast<void (*)(void **, std::size_t *)>(t[2])(&buffer, &size);
  CHECK(buffer != nullptr);
  CHECK(size == 1024);
  reinterpret_cast<void (*)(void **, std::size_t *)>(t[6])(&buffer, &size);
  CHECK(size == 14);
}

TEST_CASE("the integrity check answers as cudart 13 expects") {
  auto *t = static_cast<Slot const *>(exportTable(kIntegrityCheckId));
  auto check = reinterpret_cast<CUresult (*)(std::uint32_t, std::uint64_t, std::uint64_t *)>(t[1]);
  std::uint64_t out[2] = {};
  REQUIRE(check(13000, 1700000000, out) == CUDA_SUCCESS);
  CHECK(out[0] == 0x3341181C03CB675CULL);
  CHECK(out[1] == 0x8ED383AA1F4CD1E8ULL);
  REQUIRE(check(13001, 1700000000, out) == CUDA_SUCCESS);
  CHECK(out[0] == 0x1841181C03CB675CULL);
  CHECK(out[1] == 0x8ED383AA1F4CD1E8ULL);
  // v = 13002: an HMAC over this process's identity; it depends on every input.
  REQUIRE(check(13002, 1700000000, out) == CUDA_SUCCESS);
  Md2Digest expected = integrityDigest(13002, 1700000000, static_cast<std::uint32_t>(getpid()),
                                       static_cast<std::uint32_t>(pthread_self()));
  CHECK(std::memcmp(out, expected.data(), 16) == 0);
  CHECK(hex(integrityDigest(13002, 1700000001, 1, 2)) != hex(integrityDigest(13002, 1700000000, 1, 2)));
  CHECK(hex(integrityDigest(13002, 1700000000, 1, 3)) != hex(integrityDigest(13002, 1700000000, 1, 2)));
}

TEST_CASE("context local storage: put, get, delete, and misses are errors") {
  REQUIRE(api::cuInit(0) == CUDA_SUCCESS);
  CUcontext ctx = nullptr;
  REQUIRE(api::cuDevicePrimaryCtxRetain(&ctx, 0) == CUDA_SUCCESS);
  REQUIRE(api::cuCtxSetCurrent(ctx) == CUDA_SUCCESS);
  auto *t = static_cast<Slot const *>(exportTable(kContextLocalStorageId));
  auto put = reinterpret_cast<CUresult (*)(CUcontext, void *, void *, void *)>(t[0]);
  auto del = reinterpret_cast<CUresult (*)(CUcontext, void *)>(t[1]);
  auto get = reinterpret_cast<CUresult (*)(void **, CUcontext, void *)>(t[2]);
  int key = 0, value = 0;
  void *out = nullptr;
  CHECK(get(&out, nullptr, &key) != CUDA_SUCCESS);
  CHECK(put(nullptr, &key, &value, nullptr) == CUDA_SUCCESS);
  CHECK(get(&out, nullptr, &key) == CUDA_SUCCESS);
  CHECK(out == &value);
  CHECK(get(&out, ctx, &key) == CUDA_SUCCESS); // explicit context == current
  CHECK(del(ctx, &key) == CUDA_SUCCESS);
  CHECK(get(&out, nullptr, &key) != CUDA_SUCCESS);
  // A reset context loses its values.
  CHECK(put(nullptr, &key, &value, nullptr) == CUDA_SUCCESS);
  CHECK(api::cuDevicePrimaryCtxReset_v2(0) == CUDA_SUCCESS);
  CHECK(get(&out, ctx, &key) != CUDA_SUCCESS);
  CHECK(api::cuDevicePrimaryCtxRelease_v2(0) == CUDA_SUCCESS);
}

TEST_CASE("CUDART_INTERFACE slot 2 gives the primary context") {
  REQUIRE(api::cuInit(0) == CUDA_SUCCESS);
  auto *t = static_cast<Slot const *>(exportTable(kCudartInterfaceId));
  auto primary = reinterpret_cast<CUresult (*)(CUcontext *, CUdevice)>(t[2]);
  CUcontext a = nullptr, b = nullptr;
  REQUIRE(primary(&a, 0) == CUDA_SUCCESS);
  REQUIRE(api::cuDevicePrimaryCtxRetain(&b, 0) == CUDA_SUCCESS);
  CHECK(a == b);
  CHECK(primary(&a, 7) == CUDA_ERROR_INVALID_DEVICE);
  CHECK(api::cuDevicePrimaryCtxRelease_v2(0) == CUDA_SUCCESS);
}

TEST_CASE("CONTEXT_STREAM: context and stream identities (cuBLAS)") {
  REQUIRE(api::cuInit(0) == CUDA_SUCCESS);
  CUcontext ctx = nullptr;
  REQUIRE(api::cuDevicePrimaryCtxRetain(&ctx, 0) == CUDA_SUCCESS);
  REQUIRE(api::cuCtxSetCurrent(ctx) == CUDA_SUCCESS);
  auto *t = static_cast<Slot const *>(exportTable(kContextStreamId));
  REQUIRE(t != nullptr);
  CHECK(reinterpret_cast<std::uintptr_t>(t[0]) == 93 * sizeof(Slot));
  auto key = reinterpret_cast<CUresult (*)(CUcontext, std::uint64_t *)>(t[4]);
  auto identity = reinterpret_cast<CUresult (*)(CUcontext, void *, std::uint64_t *)>(t[39]);
  auto fromPublic = reinterpret_cast<CUresult (*)(CUcontext, CUstream, void **, int)>(t[51]);

  std::uint64_t k = 0;
  unsigned long long id = 0;
  CHECK(key(ctx, &k) == CUDA_SUCCESS);
  REQUIRE(api::cuCtxGetId(ctx, &id) == CUDA_SUCCESS);
  CHECK(k == id);
  CHECK(key(ctx, nullptr) == CUDA_ERROR_INVALID_VALUE);

  CUstream s = nullptr;
  REQUIRE(api::cuStreamCreate(&s, 0) == CUDA_SUCCESS);
  void *priv = nullptr;
  REQUIRE(fromPublic(ctx, s, &priv, 0) == CUDA_SUCCESS);
  std::uint64_t a = 0, b = 0;
  CHECK(identity(ctx, priv, &a) == CUDA_SUCCESS);
  REQUIRE(api::cuStreamGetId(s, &id) == CUDA_SUCCESS);
  CHECK(a == id);
  // The default stream: legacy or per-thread, as the caller asks; distinct.
  REQUIRE(fromPublic(ctx, nullptr, &priv, 0) == CUDA_SUCCESS);
  CHECK(identity(ctx, priv, &a) == CUDA_SUCCESS);
  REQUIRE(fromPublic(ctx, nullptr, &priv, 1) == CUDA_SUCCESS);
  CHECK(identity(ctx, priv, &b) == CUDA_SUCCESS);
  CHECK(a != b);
  CHECK(a != id);
  int junk = 0;
  CHECK(fromPublic(ctx, reinterpret_cast<CUstream>(&junk), &priv, 0) == CUDA_ERROR_INVALID_HANDLE);
  CHECK(fromPublic(ctx, s, nullptr, 0) == CUDA_ERROR_INVALID_VALUE);
  CHECK(api::cuStreamDestroy_v2(s) == CUDA_SUCCESS);
  CHECK(api::cuDevicePrimaryCtxRelease_v2(0) == CUDA_SUCCESS);
}

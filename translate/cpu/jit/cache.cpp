// On-disk object cache (see cache.h).
#include "translate/cpu/jit/cache.h"
#include <cstdlib>
#include <filesystem>
#include <fmt/format.h>
#include <fstream>
#include <llvm/ADT/StringMap.h>
#include <llvm/ADT/StringRef.h>
#include <llvm/Config/llvm-config.h>
#include <llvm/TargetParser/Host.h>
#include <unistd.h>
#include <xxhash.h>

namespace cuvirt::cpu::jit {

std::string_view compilerVersion() { return "cuvirt-cpu-jit 4 (LLVM " LLVM_VERSION_STRING ")"; }

std::string cacheKey(std::string_view source) {
  // The host CPU decides the code (AVX-512 or not): part of the key.
  static const std::string host = [] {
    std::string h = llvm::sys::getHostCPUName().str();
    for (const auto &f : llvm::sys::getHostCPUFeatures())
      h += fmt::format(",{}{}", f.second ? '+' : '-', f.first().str());
    return h;
  }();
  XXH3_state_t *st = XXH3_createState();
  XXH3_128bits_reset(st);
  auto add = [&](std::string_view s) {
    std::uint64_t len = s.size();
    XXH3_128bits_update(st, &len, sizeof len);
    XXH3_128bits_update(st, s.data(), s.size());
  };
  add(source);
  add(compilerVersion());
  add(host);
  XXH128_hash_t h = XXH3_128bits_digest(st);
  XXH3_freeState(st);
  return fmt::format("{:016x}{:016x}", h.high64, h.low64);
}

std::optional<std::vector<char>> cacheLoad(const std::string &dir, const std::string &key) {
  if (dir.empty())
    return std::nullopt;
  std::ifstream in(std::filesystem::path(dir) / (key + ".o"), std::ios::binary);
  if (!in)
    return std::nullopt;
  std::vector<char> data((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (data.size() < 4 || data[0] != 0x7f || data[1] != 'E')
    return std::nullopt; // not an ELF object: ignore the entry
  return data;
}

void cacheStore(const std::string &dir, const std::string &key, const std::vector<char> &object) {
  if (dir.empty())
    return;
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec)
    return;
  auto final = std::filesystem::path(dir) / (key + ".o");
  auto tmp = std::filesystem::path(dir) / fmt::format("{}.{}.tmp", key, ::getpid());
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out)
      return;
    out.write(object.data(), std::streamsize(object.size()));
    if (!out)
      return;
  }
  std::filesystem::rename(tmp, final, ec);
  if (ec)
    std::filesystem::remove(tmp, ec);
}

std::string defaultCacheDir() {
  if (const char *d = std::getenv("CUVIRT_JIT_CACHE"); d && *d)
    return std::string_view(d) == "off" ? std::string() : std::string(d); // "off": no disk cache
  if (const char *x = std::getenv("XDG_CACHE_HOME"); x && *x)
    return std::string(x) + "/cuvirt/jit";
  if (const char *h = std::getenv("HOME"); h && *h)
    return std::string(h) + "/.cache/cuvirt/jit";
  return {};
}

} // namespace cuvirt::cpu::jit

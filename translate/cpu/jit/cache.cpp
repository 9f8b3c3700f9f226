// On-disk object cache (see cache.h).
#include "translate/cpu/jit/cache.h"
#include "translate/cpu/jit/blockify.h"
#include <cstdlib>
#include <dlfcn.h>
#include <elf.h>
#include <filesystem>
#include <fmt/format.h>
#include <fstream>
#include <link.h>
#include <llvm/ADT/StringMap.h>
#include <llvm/ADT/StringRef.h>
#include <llvm/Config/llvm-config.h>
#include <llvm/TargetParser/Host.h>
#include <unistd.h>
#include <xxhash.h>

namespace cuvirt::cpu::jit {

namespace {

// The GNU build ID of the binary holding this compiler (libcuda.so.1, or a
// test executable): any rebuild of cuvirt changes it, so a cache entry can
// never outlive the compiler that wrote it, even when nobody bumps the
// version string. "" when the binary has no build ID.
std::string compilerBuildId() {
  Dl_info self{};
  if (dladdr(reinterpret_cast<const void *>(&compilerBuildId), &self) == 0)
    return {};
  struct Search {
    const void *base;
    std::string id;
  } search{self.dli_fbase, {}};
  dl_iterate_phdr(
      [](dl_phdr_info *info, size_t, void *data) {
        auto *s = static_cast<Search *>(data);
        for (int i = 0; i < info->dlpi_phnum; ++i) {
          const ElfW(Phdr) &ph = info->dlpi_phdr[i];
          if (ph.p_type == PT_LOAD && ph.p_offset == 0 &&
              reinterpret_cast<const void *>(info->dlpi_addr + ph.p_vaddr) != s->base)
            return 0; // another object
        }
        for (int i = 0; i < info->dlpi_phnum; ++i) {
          const ElfW(Phdr) &ph = info->dlpi_phdr[i];
          if (ph.p_type != PT_NOTE)
            continue;
          auto *p = reinterpret_cast<const unsigned char *>(info->dlpi_addr + ph.p_vaddr);
          for (const unsigned char *end = p + ph.p_memsz; p + sizeof(ElfW(Nhdr)) <= end;) {
            auto *note = reinterpret_cast<const ElfW(Nhdr) *>(p);
            const unsigned char *desc = p + sizeof(ElfW(Nhdr)) + ((note->n_namesz + 3) & ~3u);
            if (note->n_type == NT_GNU_BUILD_ID && desc + note->n_descsz <= end) {
              for (unsigned k = 0; k < note->n_descsz; ++k)
                s->id += fmt::format("{:02x}", desc[k]);
              return 1;
            }
            p = desc + ((note->n_descsz + 3) & ~3u);
          }
        }
        return 1;
      },
      &search);
  return search.id;
}

} // namespace

std::string_view compilerVersion() { return "cuvirt-cpu-jit 6 (LLVM " LLVM_VERSION_STRING ")"; }

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
  static const std::string buildId = compilerBuildId();
  add(buildId);
  if (warpLockstepEverywhere())
    add("CUVIRT_WARP_LOCKSTEP=1");
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

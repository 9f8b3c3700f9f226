// The on-disk cache of compiled kernels: one relocatable object per kernel
// (lazy modules: module PTX hash + kernel) or per module (compilePtx,
// compileIr), keyed by that source, the compiler version and build ID and the
// host CPU. Module
// globals stay external symbols in the object and are bound at link time, so
// an entry is valid whatever addresses a later run gives them.
#pragma once
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace cuvirt::cpu::jit {

/// Key of `source` compiled for this host by this compiler (hex).
std::string cacheKey(std::string_view source);

/// The object stored under `key`, if any.
std::optional<std::vector<char>> cacheLoad(const std::string &dir, const std::string &key);

/// Stores `object` under `key` (atomically: write then rename). Failures are
/// ignored: the cache is an optimisation.
void cacheStore(const std::string &dir, const std::string &key, const std::vector<char> &object);

/// The backend's default directory: $CUVIRT_JIT_CACHE, else
/// $XDG_CACHE_HOME/cuvirt/jit, else ~/.cache/cuvirt/jit.
std::string defaultCacheDir();

/// Identifies this compiler: bumped whenever generated code changes.
std::string_view compilerVersion();

} // namespace cuvirt::cpu::jit

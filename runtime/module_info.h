// What the runtime needs to know about a loaded module, whatever it came from
// (PTX text or a cubin's ELF): kernels with their parameter layouts, and the
// module-scope variables with their initial contents.
#pragma once
#include <algorithm>
#include <array>
#include <cstdint>
#include <string>
#include <vector>

namespace cuvirt {

struct ParamInfo {
  std::uint32_t offset = 0; ///< byte offset in the packed parameter buffer
  std::uint32_t size = 0;   ///< bytes
  std::uint32_t align = 1;  ///< bytes
};

struct KernelInfo {
  std::string name; ///< mangled name as in the image
  std::vector<ParamInfo> params;
  std::uint32_t staticSharedBytes = 0;     ///< .shared variables used by this kernel
  std::uint32_t localBytes = 0;            ///< per-thread .local, 0 if unknown
  std::uint32_t maxThreadsPerBlock = 0;    ///< .maxntid product, 0 = unconstrained
  std::uint32_t reqntid[3] = {0, 0, 0};    ///< .reqntid, 0 = none
  std::uint32_t clusterDim[3] = {0, 0, 0}; ///< .reqnctapercluster (__cluster_dims__), 0 = none
  std::uint32_t minBlocksPerSm = 0;        ///< .minnctapersm
  std::uint32_t numRegs = 0;               ///< registers per thread if known
  /// Blocks per cluster the kernel requires (1 x 1 x 1 without __cluster_dims__).
  [[nodiscard]] std::array<std::uint32_t, 3> clusterShape() const {
    return {std::max(clusterDim[0], 1u), std::max(clusterDim[1], 1u), std::max(clusterDim[2], 1u)};
  }
  [[nodiscard]] std::uint32_t paramBytes() const {
    return params.empty() ? 0 : params.back().offset + params.back().size;
  }
};

/// A pointer-sized slot inside a variable's initial data that holds the
/// address of another symbol (PTX `.u64 p = x;` / `generic(x)`).
struct Relocation {
  std::uint64_t offset = 0;
  std::string symbol;
  std::int64_t addend = 0;
};

struct GlobalInfo {
  enum class Space { Global, Const };
  std::string name;
  Space space = Space::Global;
  std::uint64_t size = 0;
  std::uint32_t align = 1;
  std::vector<std::uint8_t> init; ///< initial bytes; shorter than size = zero-filled rest
  std::vector<Relocation> relocations;
  bool isExtern = false; ///< declared .extern: defined by another module
};

struct ModuleInfo {
  std::vector<KernelInfo> kernels;
  std::vector<GlobalInfo> globals;
  std::vector<std::string> functions; ///< non-kernel .func names (visible ones)
};

} // namespace cuvirt

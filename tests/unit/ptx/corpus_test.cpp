// The nvcc-built corpus: every file must parse, give the right module info,
// lower and verify.
#include "tests/unit/ptx/corpus_files.h"
#include "tests/unit/ptx/lower_util.h"
#include "translate/ptx/ptx.h"
#include <doctest.h>
#include <fstream>
#include <regex>
#include <sstream>

using namespace cuvirt;

namespace {
std::string readFile(const std::string &path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}
const KernelInfo *findKernel(const ModuleInfo &m, std::string_view sub) {
  for (auto &k : m.kernels)
    if (k.name.find(sub) != std::string::npos)
      return &k;
  return nullptr;
}
bool endsWith(const std::string &s, std::string_view suf) {
  return s.size() >= suf.size() && s.compare(s.size() - suf.size(), suf.size(), suf) == 0;
}
} // namespace

TEST_SUITE("corpus") {
  TEST_CASE("corpus: moduleInfo of every nvcc-built file") {
    REQUIRE_MESSAGE(!corpusFiles().empty(), "no corpus files given");
    for (auto &path : corpusFiles()) {
      CAPTURE(path);
      std::string text = readFile(path);
      REQUIRE(!text.empty());
      std::string log;
      auto info = ptx::moduleInfo(text, log);
      INFO(log);
      REQUIRE(info.ok());
      // an independent count of the entries
      std::regex entry(R"(\.entry\s+([A-Za-z_$][A-Za-z0-9_$]*))");
      std::size_t entries = 0;
      for (auto it = std::sregex_iterator(text.begin(), text.end(), entry); it != std::sregex_iterator();
           ++it)
        ++entries;
      CHECK(info->kernels.size() == entries);
      for (auto &k : info->kernels) {
        std::uint32_t end = 0;
        for (auto &p : k.params) {
          CHECK(p.offset % p.align == 0);
          CHECK(p.offset >= end);
          end = p.offset + p.size;
        }
      }
      const std::string base = path.substr(path.find_last_of('/') + 1);
      if (base.rfind("templates_", 0) == 0) {
        auto *k = findKernel(*info, "byValue");
        REQUIRE(k);
        // Vec3, Big, Aligned, char, short, Vec3*, double*
        REQUIRE(k->params.size() == 7);
        CHECK(k->params[0].size == 12);
        CHECK(k->params[1].size == 48);
        CHECK(k->params[1].align == 8);
        CHECK(k->params[1].offset == 16);
        CHECK(k->params[2].size == 16);
        CHECK(k->params[2].align == 16);
        CHECK(k->params[2].offset == 64);
        CHECK(k->params[3].size == 1);
        CHECK(k->params[3].offset == 80);
        CHECK(k->params[4].offset == 82);
        CHECK(k->params[5].offset == 88);
        CHECK(k->paramBytes() == 104);
      }
      if (base.rfind("memory_", 0) == 0) {
        auto *k = findKernel(*info, "stencil");
        REQUIRE(k);
        CHECK(k->maxThreadsPerBlock == 128);
        CHECK(k->minBlocksPerSm == 4);
        CHECK(k->staticSharedBytes == 64); // moduleShared; the extern tile is dynamic
        bool sawCoeffs = false, sawPtr = false;
        for (auto &g : info->globals) {
          if (g.name == "coeffs") {
            sawCoeffs = true;
            CHECK(g.space == GlobalInfo::Space::Const);
            CHECK(g.size == 32);
            REQUIRE(g.init.size() >= 20);
            CHECK(g.init[2] == 0);
            CHECK(g.init[3] == 0x3F); // 0.5f = 0x3F000000
          }
          if (g.name == "counterPtr") {
            sawPtr = true;
            REQUIRE(g.relocations.size() == 1);
            CHECK(g.relocations[0].symbol == "counter");
          }
        }
        CHECK(sawCoeffs);
        CHECK(sawPtr);
      }
      if (base.rfind("reduce_", 0) == 0 && !endsWith(base, "-G.ptx")) {
        auto *k = findKernel(*info, "blockSum");
        REQUIRE(k);
        CHECK(k->staticSharedBytes == 128);
      }
    }
  }

  TEST_CASE("corpus: lower() and verify every nvcc-built file") {
    REQUIRE_MESSAGE(!corpusFiles().empty(), "no corpus files given");
    for (auto &path : corpusFiles()) {
      CAPTURE(path);
      std::string text = readFile(path);
      REQUIRE(!text.empty());
      llvm::LLVMContext ctx;
      std::string log;
      bool ok = false;
      std::string ir = lowerToText(text, ctx, log, &ok);
      INFO(log);
      REQUIRE(ok);
      CHECK(ir.find("\"cuvirt-kernel\"") != std::string::npos);
      // nothing in the corpus needs a tensor core or a texture
      CHECK(ir.find("@cuvirt.unsupported") == std::string::npos);
      const std::string base = path.substr(path.find_last_of('/') + 1);
      if (base.rfind("reduce_", 0) == 0)
        CHECK(ir.find("@cuvirt.shfl.down") != std::string::npos);
      if (base.rfind("printf_assert_", 0) == 0) {
        CHECK(ir.find("declare i32 @vprintf(i64, i64)") != std::string::npos);
        CHECK(ir.find("@__assertfail(") != std::string::npos);
        CHECK(ir.find("@malloc(") != std::string::npos);
        CHECK(ir.find("call void @cuvirt.trap()") != std::string::npos);
      }
      if (base.rfind("atomics_", 0) == 0)
        CHECK(ir.find("cmpxchg") != std::string::npos);
      if (base.rfind("inline_asm_", 0) == 0) {
        CHECK(ir.find("switch i32") != std::string::npos); // brx.idx
        CHECK(ir.find("@cuvirt.barrier.red.popc") != std::string::npos);
        CHECK(ir.find("@cuvirt.barrier.arrive(i32 1, i32 64)") != std::string::npos);
      }
      // the same module with GPU-style address spaces must verify too
      llvm::LLVMContext ctx2;
      std::string log2;
      bool ok2 = false;
      std::string ir2 = lowerToText(text, ctx2, log2, &ok2, true);
      INFO(log2);
      CHECK(ok2);
      if (base.rfind("reduce_", 0) == 0)
        CHECK(ir2.find("ptr addrspace(3) @cuvirt.shared.base()") != std::string::npos);
    }
  }
}

// cuvirt-ptx: look inside the device code of a PTX file, a fatbin, a cubin or
// a CUDA executable: kernels and their parameters, module variables, the
// LLVM IR at each stage, host assembly, and any errors with line:column.
#include "intercept/image/image.h"
#include "translate/cpu/jit/dump.h"
#include "translate/ptx/ptx.h"
#include <CLI/CLI.hpp>
#include <cstdio>
#include <cxxabi.h>
#include <string>

namespace {

std::string demangle(const std::string &name) {
  int status = 0;
  char *d = abi::__cxa_demangle(name.c_str(), nullptr, nullptr, &status);
  std::string out = status == 0 && d != nullptr ? d : name;
  std::free(d);
  return out;
}

void printInfo(const cuvirt::ModuleInfo &info) {
  for (const auto &k : info.kernels) {
    std::printf("  kernel %s\n", demangle(k.name).c_str());
    if (k.name != demangle(k.name))
      std::printf("    symbol %s\n", k.name.c_str());
    for (std::size_t i = 0; i < k.params.size(); ++i)
      std::printf("    param %zu: offset %u, %u bytes, align %u\n", i, k.params[i].offset, k.params[i].size,
                  k.params[i].align);
    std::printf("    static shared %u bytes, local %u bytes", k.staticSharedBytes, k.localBytes);
    if (k.maxThreadsPerBlock)
      std::printf(", max %u threads", k.maxThreadsPerBlock);
    if (k.reqntid[0])
      std::printf(", reqntid %u,%u,%u", k.reqntid[0], k.reqntid[1], k.reqntid[2]);
    std::printf("\n");
  }
  for (const auto &g : info.globals)
    std::printf("  %s %s: %llu bytes, align %u%s%s\n",
                g.space == cuvirt::GlobalInfo::Space::Const ? "const" : "global", g.name.c_str(),
                static_cast<unsigned long long>(g.size), g.align, g.init.empty() ? "" : ", initialised",
                g.isExtern ? ", extern" : "");
}

} // namespace

int main(int argc, char **argv) {
  CLI::App app{"Shows the device code of a PTX file, fatbin, cubin or CUDA executable: kernels, parameters,\n"
               "variables, the LLVM IR cuvirt makes of it, host assembly, and errors.\n"
               "Example: cuvirt-ptx ./vectorAdd\n"
               "         cuvirt-ptx --emit asm kernel.ptx"};
  app.set_version_flag("--version", "cuvirt-ptx 0.1.0");
  std::string input, emit = "info";
  int entryIndex = -1;
  app.add_option("input", input, "A .ptx, .fatbin, .cubin file or a CUDA executable")->required();
  app.add_option("--emit", emit,
                 "What to show: info (default), ptx, thread-ir, block-ir, ir (optimised), asm")
      ->check(CLI::IsMember({"info", "ptx", "thread-ir", "block-ir", "ir", "asm"}));
  app.add_option("--entry", entryIndex, "Only the image entry with this index");
  CLI11_PARSE(app, argc, argv);
  // The tool reports errors itself; the library's log would repeat them.
  setenv("CUVIRT_LOG", "off", 0);

  auto img = cuvirt::image::parseFile(input);
  if (!img) {
    std::fprintf(stderr, "cuvirt-ptx: %s\n", cuvirt::lastErrorMessage().c_str());
    return 1;
  }
  int failures = 0;
  for (std::size_t i = 0; i < img->entries.size(); ++i) {
    if (entryIndex >= 0 && static_cast<std::size_t>(entryIndex) != i)
      continue;
    const auto &e = img->entries[i];
    const bool ptx = e.kind == cuvirt::image::EntryKind::Ptx;
    std::printf("entry %zu: %s sm_%d, %zu bytes\n", i, ptx ? "PTX" : "cubin", e.arch, e.data.size());
    if (emit == "info") {
      std::string log;
      auto info = ptx ? cuvirt::ptx::moduleInfo(e.data, log)
                      : cuvirt::image::cubinInfo(
                            {reinterpret_cast<const std::uint8_t *>(e.data.data()), e.data.size()});
      if (!info) {
        std::fprintf(stderr, "%s", log.empty() ? (cuvirt::lastErrorMessage() + "\n").c_str() : log.c_str());
        ++failures;
        continue;
      }
      printInfo(*info);
      if (ptx) { // and whether it compiles for the CPU
        auto compiled = cuvirt::cpu::jit::dumpPtx(e.data, cuvirt::cpu::jit::DumpStage::BlockIR, log);
        std::printf("  compiles for the CPU device: %s\n", compiled ? "yes" : "no");
        if (!compiled) {
          std::fprintf(stderr, "%s", log.c_str());
          ++failures;
        }
      }
      continue;
    }
    if (!ptx) {
      std::printf("  (a cubin: only 'info' applies)\n");
      continue;
    }
    if (emit == "ptx") {
      std::fwrite(e.data.data(), 1, e.data.size(), stdout);
      continue;
    }
    using cuvirt::cpu::jit::DumpStage;
    DumpStage stage = emit == "thread-ir"  ? DumpStage::ThreadIR
                      : emit == "block-ir" ? DumpStage::BlockIR
                      : emit == "ir"       ? DumpStage::OptimizedIR
                                           : DumpStage::Assembly;
    std::string log;
    auto text = cuvirt::cpu::jit::dumpPtx(e.data, stage, log);
    if (!text) {
      std::fprintf(stderr, "%s", log.c_str());
      ++failures;
      continue;
    }
    std::fwrite(text->data(), 1, text->size(), stdout);
  }
  return failures == 0 ? 0 : 1;
}

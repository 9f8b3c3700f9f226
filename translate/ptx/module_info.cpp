// moduleInfo(): kernels, parameter layouts, shared sizes and module variables
// from the parsed module, without LLVM.
#include "translate/ptx/analysis.h"
#include "translate/ptx/parser.h"
#include "translate/ptx/ptx.h"
#include <fmt/format.h>

namespace cuvirt::ptx {

Expected<ModuleInfo> moduleInfoFrom(const Module &m, const ModuleFacts &facts, std::string &log) {
  ModuleInfo info;
  for (std::size_t i = 0; i < m.functions.size(); ++i) {
    const Function &f = m.functions[i];
    if (facts.functionIndex.at(f.name) != i)
      continue; // a declaration of something defined later
    if (f.isEntry) {
      KernelInfo k;
      k.name = f.name;
      CUVIRT_TRY(layoutParams(f, k, log));
      k.staticSharedBytes = facts.shared.staticBytes[i];
      if (f.maxntid[0])
        k.maxThreadsPerBlock = f.maxntid[0] * f.maxntid[1] * f.maxntid[2];
      for (int d = 0; d < 3; ++d) {
        k.reqntid[d] = f.reqntid[d];
        k.clusterDim[d] = f.reqnctapercluster[d];
      }
      if (f.reqntid[0] && !k.maxThreadsPerBlock)
        k.maxThreadsPerBlock = f.reqntid[0] * f.reqntid[1] * f.reqntid[2];
      k.minBlocksPerSm = f.minnctapersm;
      // numRegs stays 0: .maxnreg is a limit, not the count ptxas would allocate
      std::uint64_t local = 0;
      for (auto &s : f.body)
        if (auto *v = std::get_if<VarDecl>(&s); v && v->space == Space::Local) {
          local = (local + v->alignment() - 1) / v->alignment() * v->alignment() + v->size();
        }
      k.localBytes = std::uint32_t(local);
      info.kernels.push_back(std::move(k));
    } else if (f.hasBody && (f.isVisible || f.isWeak)) {
      info.functions.push_back(f.name);
    }
  }
  for (auto &v : m.globals) {
    if (v.space != Space::Global && v.space != Space::Const)
      continue;
    GlobalInfo g;
    g.name = v.name;
    g.space = v.space == Space::Const ? GlobalInfo::Space::Const : GlobalInfo::Space::Global;
    g.size = v.size();
    g.align = v.alignment();
    g.isExtern = v.isExtern;
    if (v.count() == 0 && !v.isExtern) {
      // `.global .b8 x[] = {1, 2}` takes its size from the initialiser
      if (!v.init)
        return invalidPtx(log, v.loc, fmt::format("variable '{}' has no size", v.name));
    }
    CUVIRT_TRY(encodeInitialiser(v, g, m.addressSize, log));
    if (g.size == 0)
      g.size = g.init.size();
    info.globals.push_back(std::move(g));
  }
  return info;
}

Expected<ModuleInfo> moduleInfo(std::string_view text, std::string &log) {
  auto m = parse(text, log);
  if (!m)
    return m.status();
  auto facts = analyse(*m, log);
  if (!facts)
    return facts.status();
  CUVIRT_TRY(checkSemantics(*m, log));
  return moduleInfoFrom(*m, *facts, log);
}

} // namespace cuvirt::ptx

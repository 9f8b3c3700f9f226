// Whole-module facts shared by moduleInfo() and lower(): which symbols each
// function references, the call graph, and the static shared-memory layout.
#pragma once
#include "runtime/module_info.h"
#include "runtime/status.h"
#include "translate/ptx/ast.h"
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

namespace cuvirt::ptx {

/// Shared-memory layout. Variables referenced from a non-entry function live at
/// one module-wide offset (the "common" region, laid out first) so that the
/// function's code is the same whichever kernel calls it; variables only
/// referenced by an entry follow the common region in that kernel's layout.
struct SharedPlan {
  /// per function index: shared variable name -> byte offset, for every
  /// non-extern .shared variable the function references directly
  std::vector<std::unordered_map<std::string, std::uint32_t>> offsets;
  /// per function index: static shared bytes (entries: with callees)
  std::vector<std::uint32_t> staticBytes;
};

struct ModuleFacts {
  /// index of the defining (or only) Function for each function name
  std::unordered_map<std::string, std::size_t> functionIndex;
  /// per function index: every identifier its body mentions as an operand
  std::vector<std::unordered_set<std::string>> refs;
  /// per function index: functions reachable from it (itself excluded unless recursive)
  std::vector<std::unordered_set<std::size_t>> reach;
  SharedPlan shared;
};

Expected<ModuleFacts> analyse(const Module &m, std::string &log);

/// Encodes a module variable's initialiser (GlobalInfo::init/relocations).
Status encodeInitialiser(const VarDecl &v, GlobalInfo &out, unsigned addressSize, std::string &log);

/// Parameter layout of an entry: each parameter at its alignment, in order.
Status layoutParams(const Function &f, KernelInfo &out, std::string &log);

/// The lowering's name, opcode and label checks, without LLVM, so that bad PTX
/// fails at module load rather than at the first launch.
Status checkSemantics(const Module &m, std::string &log);

/// ModuleInfo of a parsed, analysed module (moduleInfo() without the parsing).
Expected<ModuleInfo> moduleInfoFrom(const Module &m, const ModuleFacts &facts, std::string &log);

} // namespace cuvirt::ptx

#include "translate/ptx/analysis.h"
#include "translate/ptx/parser.h"
#include <cstring>
#include <fmt/format.h>

namespace cuvirt::ptx {
namespace {

void collectRefs(const Operand &o, std::unordered_set<std::string> &out) {
  if ((o.kind == Operand::Kind::Reg || o.kind == Operand::Kind::Addr) && !o.name.empty())
    out.insert(o.name);
  for (auto &e : o.elems)
    collectRefs(e, out);
}

std::uint64_t alignUp(std::uint64_t v, std::uint64_t a) { return a ? (v + a - 1) / a * a : v; }

} // namespace

Expected<ModuleFacts> analyse(const Module &m, std::string &log) {
  ModuleFacts f;
  const std::size_t n = m.functions.size();
  for (std::size_t i = 0; i < n; ++i) {
    auto &fn = m.functions[i];
    auto it = f.functionIndex.find(fn.name);
    if (it == f.functionIndex.end()) {
      f.functionIndex.emplace(fn.name, i);
    } else if (fn.hasBody) {
      if (m.functions[it->second].hasBody)
        return invalidPtx(log, fn.loc, fmt::format("function '{}' defined twice", fn.name));
      it->second = i;
    }
  }
  f.refs.resize(n);
  for (std::size_t i = 0; i < n; ++i)
    for (auto &s : m.functions[i].body)
      if (auto *in = std::get_if<Instr>(&s))
        for (auto &o : in->ops)
          collectRefs(o, f.refs[i]);
  // call graph: any mention of a function name (call target or address taken)
  std::vector<std::vector<std::size_t>> edges(n);
  for (std::size_t i = 0; i < n; ++i)
    for (auto &r : f.refs[i])
      if (auto it = f.functionIndex.find(r); it != f.functionIndex.end())
        edges[i].push_back(it->second);
  f.reach.resize(n);
  for (std::size_t i = 0; i < n; ++i) {
    std::vector<std::size_t> work = edges[i];
    while (!work.empty()) {
      std::size_t j = work.back();
      work.pop_back();
      if (!f.reach[i].insert(j).second)
        continue;
      for (auto k : edges[j])
        work.push_back(k);
    }
  }

  // shared variables: module scope by name, function scope per function
  std::unordered_map<std::string, const VarDecl *> moduleShared;
  for (auto &g : m.globals)
    if (g.space == Space::Shared && !g.isExtern)
      moduleShared.emplace(g.name, &g);
  std::vector<std::vector<const VarDecl *>> ownShared(n); // in declaration order
  for (std::size_t i = 0; i < n; ++i)
    for (auto &s : m.functions[i].body)
      if (auto *v = std::get_if<VarDecl>(&s); v && v->space == Space::Shared && !v->isExtern)
        ownShared[i].push_back(v);
  auto used = [&](std::size_t i) {
    // the function's referenced shared variables, in declaration order
    std::vector<const VarDecl *> vs;
    for (auto &g : m.globals)
      if (g.space == Space::Shared && !g.isExtern && f.refs[i].count(g.name))
        vs.push_back(&g);
    for (auto *v : ownShared[i])
      if (f.refs[i].count(v->name))
        vs.push_back(v);
    return vs;
  };
  f.shared.offsets.resize(n);
  f.shared.staticBytes.assign(n, 0);
  std::unordered_map<const VarDecl *, std::uint32_t> common;
  std::uint64_t commonEnd = 0;
  auto place = [&](std::uint64_t &end, const VarDecl *v) -> Expected<std::uint32_t> {
    std::uint64_t off = alignUp(end, v->alignment());
    end = off + v->size();
    if (end > (std::uint64_t(1) << 31))
      return invalidPtx(log, v->loc, fmt::format("shared variable '{}' too large", v->name));
    return std::uint32_t(off);
  };
  for (std::size_t i = 0; i < n; ++i) {
    if (m.functions[i].isEntry)
      continue;
    for (auto *v : used(i)) {
      if (!common.count(v)) {
        auto off = place(commonEnd, v);
        if (!off)
          return off.status();
        common.emplace(v, *off);
      }
      f.shared.offsets[i][v->name] = common[v];
    }
  }
  for (std::size_t i = 0; i < n; ++i) {
    std::uint64_t end = 0;
    for (auto j : f.reach[i])
      if (!m.functions[j].isEntry && !used(j).empty())
        end = commonEnd;
    if (!m.functions[i].isEntry) {
      f.shared.staticBytes[i] = std::uint32_t(used(i).empty() ? end : commonEnd);
      continue;
    }
    // a kernel touching the common region (directly or through callees) lays its own
    // variables out after it
    auto vars = used(i);
    for (auto *v : vars)
      if (common.count(v))
        end = commonEnd;
    std::uint64_t localEnd = end;
    for (auto *v : vars) {
      if (auto it = common.find(v); it != common.end()) {
        f.shared.offsets[i][v->name] = it->second;
        continue;
      }
      auto off = place(localEnd, v);
      if (!off)
        return off.status();
      f.shared.offsets[i][v->name] = *off;
    }
    f.shared.staticBytes[i] = std::uint32_t(localEnd);
  }
  return f;
}

Status encodeInitialiser(const VarDecl &v, GlobalInfo &out, unsigned addressSize, std::string &log) {
  if (!v.init)
    return Status::success();
  const unsigned leaf = typeSize(v.type);
  const std::uint64_t maxLeaves = v.count() * v.vec;
  std::vector<const Init *> leaves;
  // flatten depth-first, in order
  auto flatten = [&](auto &self, const Init &i) -> void {
    if (i.kind == Init::Kind::List) {
      for (auto &e : i.elems)
        self(self, e);
    } else {
      leaves.push_back(&i);
    }
  };
  flatten(flatten, *v.init);
  if (v.count() != 0 && leaves.size() > maxLeaves)
    return invalidPtx(
        log, v.init->loc,
        fmt::format("too many initialisers for '{}' ({} > {})", v.name, leaves.size(), maxLeaves));
  if (leaf == 0 || v.type == Type::Pred)
    return invalidPtx(log, v.loc, "variable type cannot be initialised");
  out.init.assign(leaves.size() * leaf, 0);
  for (std::size_t k = 0; k < leaves.size(); ++k) {
    const Init &i = *leaves[k];
    std::uint64_t off = k * leaf;
    std::uint64_t bits = 0;
    if (i.kind == Init::Kind::Symbol) {
      if (i.byteMask) {
        // 0xFF<<8k(sym): byte k of the address; the slot's first byte carries the relocation
        if (i.byteMask == 0xFF)
          out.relocations.push_back({off, i.symbol, i.addend});
        continue;
      }
      if (leaf != addressSize / 8)
        return invalidPtx(log, i.loc,
                          fmt::format("address of '{}' needs a {}-bit element", i.symbol, addressSize));
      out.relocations.push_back({off, i.symbol, i.addend});
      continue;
    }
    if (i.kind == Init::Kind::Int) {
      bits = i.bits;
      if (v.type == Type::F32) {
        float f = float(std::int64_t(i.bits));
        std::uint32_t b;
        std::memcpy(&b, &f, 4);
        bits = b;
      } else if (v.type == Type::F64) {
        double d = double(std::int64_t(i.bits));
        std::memcpy(&bits, &d, 8);
      }
    } else { // Float
      bits = i.bits;
      if (v.type == Type::F32 && i.floatIsDouble) {
        double d;
        std::memcpy(&d, &i.bits, 8);
        float f = float(d);
        std::uint32_t b;
        std::memcpy(&b, &f, 4);
        bits = b;
      } else if (v.type == Type::F64 && !i.floatIsDouble) {
        std::uint32_t b = std::uint32_t(i.bits);
        float f;
        std::memcpy(&f, &b, 4);
        double d = f;
        std::memcpy(&bits, &d, 8);
      }
    }
    for (unsigned b = 0; b < leaf && b < 8; ++b)
      out.init[off + b] = std::uint8_t(bits >> (8 * b));
  }
  return Status::success();
}

Status layoutParams(const Function &f, KernelInfo &out, std::string &log) {
  std::uint64_t off = 0;
  for (auto &p : f.params) {
    if (p.space != Space::Param)
      return invalidPtx(log, p.loc, "kernel parameters must be in .param space");
    if (p.count() == 0)
      return invalidPtx(log, p.loc, fmt::format("parameter '{}' has no size", p.name));
    ParamInfo pi;
    pi.align = p.alignment();
    off = alignUp(off, pi.align);
    pi.offset = std::uint32_t(off);
    pi.size = std::uint32_t(p.size());
    off += p.size();
    if (off > (1u << 20))
      return invalidPtx(log, p.loc, "kernel parameters too large");
    out.params.push_back(pi);
  }
  return Status::success();
}

} // namespace cuvirt::ptx

#include "translate/ptx/analysis.h"
#include "translate/ptx/parser.h"
#include <algorithm>
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

namespace cuvirt::ptx {
namespace {

std::unordered_set<std::string> words(std::string_view text) {
  std::unordered_set<std::string> out;
  for (std::size_t i = 0, j; i < text.size(); i = j + 1) {
    j = std::min(text.find(' ', i), text.size());
    if (j > i)
      out.emplace(text.substr(i, j - i));
  }
  return out;
}

// Instructions whose modifiers the lowering checks itself (the tensor-core
// family: lower_matrix.cpp, shapes like .m16n8k16 are no type suffixes) or
// that it accepts but that fail when a kernel using them is compiled
// (lower_parallel.cpp).
bool trapsAtRuntime(const std::string &op) {
  static const std::unordered_set<std::string> ops =
      words("istypep mma wmma ldmatrix stmatrix movmatrix wgmma "
            "tensormap tcgen05 multimem clusterlaunchcontrol");
  return ops.contains(op);
}

// Mirrors the lowering's dispatch (lower_*.cpp): what it accepts, including
// the instructions it turns into a runtime "not supported" trap.
bool knownOpcode(const std::string &op) {
  static const std::unordered_set<std::string> known = words(
      "abs activemask add addc and applypriority atom bar barrier bfe bfi bfind bmsk bra brev brkpt brx "
      "call clz cnot copysign cos cp createpolicy cvt cvta discard div dp2a dp4a elect ex2 exit fence fma "
      "fns griddepcontrol isspacep ld ldu lg2 lop3 mad mad24 madc mapa match max mbarrier membar min mov mul "
      "mul24 nanosleep neg "
      "not or pmevent popc prefetch prefetchu prmt rcp red redux rem ret rsqrt sad selp set setmaxnreg setp "
      "shf shfl shl shr sin slct sqrt st sub subc suld suq sured sust szext tanh testp tex tld4 trap txq "
      "vote xor");
  if (known.contains(op) || trapsAtRuntime(op))
    return true;
  // SIMD video instructions: vadd2, vmin4, ...
  if (op.size() > 2 && (op.back() == '2' || op.back() == '4'))
    for (const char *p : {"vadd", "vsub", "vabsdiff", "vmin", "vmax"})
      if (op.compare(0, std::strlen(p), p) == 0)
        return true;
  return false;
}

bool specialRegister(const std::string &n) {
  static const std::unordered_set<std::string> names = [] {
    std::unordered_set<std::string> s =
        words("%laneid %warpid %nwarpid %smid %nsmid %gridid %clock %clock_hi %clock64 %globaltimer "
              "%globaltimer_lo %globaltimer_hi %dynamic_smem_size %total_smem_size %aggr_smem_size "
              "%cluster_ctarank %is_explicit_cluster %cluster_nctarank");
    for (const char *m : {"eq", "le", "lt", "ge", "gt"})
      s.insert(std::string("%lanemask_") + m);
    for (const char *b : {"%tid", "%ntid", "%ctaid", "%nctaid", "%cluster_ctaid", "%cluster_nctaid",
                          "%clusterid", "%nclusterid"})
      for (const char *c : {".x", ".y", ".z"})
        s.insert(std::string(b) + c);
    return s;
  }();
  return names.contains(n) || n.rfind("%envreg", 0) == 0 || n.rfind("%pm", 0) == 0 ||
         n.rfind("%reserved_smem", 0) == 0;
}

// `.q32`: shaped like a type suffix (letters, then digits) but no type;
// .v2/.x4 are vector and matrix counts, .rc8/.rc16 prmt modes.
bool badTypeSuffix(const std::string &m) {
  if (m == ".rc8" || m == ".rc16")
    return false;
  std::size_t i = 1;
  while (i < m.size() && m[i] >= 'a' && m[i] <= 'z')
    ++i;
  if (i == 1 || i == m.size() || m[0] != '.')
    return false;
  for (std::size_t j = i; j < m.size(); ++j)
    if (m[j] < '0' || m[j] > '9')
      return false;
  if (i == 2 && (m[1] == 'v' || m[1] == 'x'))
    return false;
  return parseType(m) == Type::None;
}

struct Names {
  std::unordered_set<std::string> ids;              // variables, functions, labels, ...
  std::unordered_map<std::string, unsigned> ranges; // %r<N>: prefix -> N
  void add(const VarDecl &v) {
    if (v.rangeCount)
      ranges[v.name] = std::max(ranges[v.name], v.rangeCount);
    else
      ids.insert(v.name);
  }
  // As the lowering resolves %r17 against .reg %r<N>.
  bool has(const std::string &n) const {
    if (ids.contains(n))
      return true;
    std::size_t d = n.size();
    while (d > 0 && n[d - 1] >= '0' && n[d - 1] <= '9')
      --d;
    if (d == n.size() || d == 0 || (n[d] == '0' && d + 1 != n.size()) || n.size() - d > 9)
      return false;
    auto r = ranges.find(n.substr(0, d));
    return r != ranges.end() && std::stoul(n.substr(d)) < r->second;
  }
};

Status checkOperand(const Operand &o, const Names &names, std::string &log) {
  for (const std::string *n : {&o.name, &o.pairedPred})
    if (!n->empty() && (*n)[0] == '%' && !names.has(*n) && !specialRegister(*n))
      return invalidPtx(log, o.loc, fmt::format("undefined identifier '{}'", *n));
  for (auto &e : o.elems)
    CUVIRT_TRY(checkOperand(e, names, log));
  return Status::success();
}

} // namespace

Status checkSemantics(const Module &m, std::string &log) {
  Names global;
  for (auto &v : m.globals)
    global.add(v);
  for (auto &f : m.functions)
    global.ids.insert(f.name);
  for (auto &f : m.functions) {
    if (!f.hasBody)
      continue;
    Names names = global;
    std::unordered_set<std::string> labels;
    for (auto &v : f.rets)
      names.add(v);
    for (auto &v : f.params)
      names.add(v);
    for (auto &s : f.body) {
      if (auto *l = std::get_if<Label>(&s)) {
        labels.insert(l->name);
        names.ids.insert(l->name);
      } else if (auto *v = std::get_if<VarDecl>(&s)) {
        names.add(*v);
      } else if (auto *b = std::get_if<BranchTargets>(&s)) {
        names.ids.insert(b->name);
      } else if (auto *p = std::get_if<CallPrototype>(&s)) {
        names.ids.insert(p->name);
      }
    }
    for (auto &s : f.body) {
      if (auto *b = std::get_if<BranchTargets>(&s)) {
        for (auto &t : b->targets)
          if (!labels.contains(t))
            return invalidPtx(log, b->loc, fmt::format("undefined label '{}'", t));
        continue;
      }
      auto *in = std::get_if<Instr>(&s);
      if (!in)
        continue;
      std::string full = in->opcode;
      for (auto &mod : in->mods)
        full += mod;
      if (!knownOpcode(in->opcode))
        return invalidPtx(log, in->loc, fmt::format("unknown or unsupported instruction '{}'", full));
      if (!trapsAtRuntime(in->opcode))
        for (auto &mod : in->mods)
          if (badTypeSuffix(mod))
            return invalidPtx(log, in->loc, fmt::format("unknown type '{}' in '{}'", mod, full));
      if (!in->guard.empty() && !names.has(in->guard))
        return invalidPtx(log, in->loc, fmt::format("undefined identifier '{}'", in->guard));
      for (auto &o : in->ops)
        CUVIRT_TRY(checkOperand(o, names, log));
      if (in->opcode == "bra" && in->ops.size() == 1 && in->ops[0].kind == Operand::Kind::Reg &&
          !labels.contains(in->ops[0].name))
        return invalidPtx(log, in->ops[0].loc, fmt::format("undefined label '{}'", in->ops[0].name));
    }
  }
  return Status::success();
}

} // namespace cuvirt::ptx

// PTX-level linking: each unit is split into its top-level statements, the
// parser says what each statement declares, and the output is the kept
// statements of every linked unit under one .version/.target header.
// Working on the text keeps everything downstream (module info, variable
// allocation, the JIT and its cache, remote devices) unchanged: a linked
// module is just a PTX module.
#include "runtime/link.h"
#include "translate/ptx/ast.h"
#include "translate/ptx/lexer.h"
#include "translate/ptx/parser.h"
#include "translate/ptx/ptx.h"
#include <algorithm>
#include <fmt/format.h>
#include <map>
#include <set>

namespace cuvirt::link {
namespace {

using ptx::Tok;
using ptx::Token;

/// Functions the device provides without a definition in any input (the
/// driver's built-ins, resolved by the CPU JIT).
bool isBuiltin(std::string_view name) {
  return name == "vprintf" || name == "malloc" || name == "free" || name == "__assertfail";
}

/// The device runtime's driver half (cnpLaunchDeviceV2, cnpStreamCreate,
/// __cuda_syscall_CGS_sync...), which libcudadevrt.a calls and a GPU
/// driver's linker supplies. Those cuvirt does not implement (device-side
/// attribute and occupancy queries, the CDP1-style cudaLaunchDevice) return
/// cudaErrorNotSupported (801), so kernels that only pull the library in
/// link and run; launches and grid syncs are real (below).
bool isDeviceRuntime(std::string_view name) {
  return name.starts_with("cnp") || name.starts_with("__cuda_syscall_");
}

/// A definition for the device-runtime declaration `decl` (`.extern .func
/// (.param .b32 r) cnpX(...);`): returns 801, or a null pointer.
std::string deviceRuntimeStub(std::string decl) {
  if (auto at = decl.find(".extern"); at != std::string::npos)
    decl.replace(at, 7, ".visible");
  if (auto semi = decl.rfind(';'); semi != std::string::npos)
    decl.erase(semi);
  std::string body;
  // the return parameter, if any: `.func (.param .bNN name)`
  auto func = decl.find(".func");
  auto open = decl.find_first_not_of(" \t\r\n", func + 5);
  if (func != std::string::npos && open != std::string::npos && decl[open] == '(') {
    auto close = decl.find(')', open);
    std::string ret = decl.substr(open + 1, close - open - 1);
    auto name = ret.find_last_not_of(" \t\r\n");
    auto start = ret.find_last_of(" \t\r\n", name);
    std::string id = ret.substr(start + 1, name - start);
    if (ret.find(".b32") != std::string::npos || ret.find(".u32") != std::string::npos ||
        ret.find(".s32") != std::string::npos)
      body = fmt::format("  st.param.b32 [{}+0], 801;\n", id);
    else if (ret.find(".b64") != std::string::npos || ret.find(".u64") != std::string::npos)
      body = fmt::format("  st.param.b64 [{}+0], 0;\n", id);
  }
  return decl + "\n{\n" + body + "  ret;\n}\n";
}

/// The device runtime's cooperative-groups syscalls, which libcudadevrt's
/// cudaCGGetIntrinsicHandle / cudaCGSynchronize / cudaCGGetSize /
/// cudaCGGetRank call (numba-cuda's this_grid().sync() reaches them; nvcc's
/// cooperative_groups inlines its own grid sync instead). A stub returning an
/// error would make grid.sync() a silent no-op, so these are real: the
/// grid's handle is the cooperative launch's grid workspace
/// (%envreg1:%envreg2, 0 outside cooperative launches), and the sync is
/// cooperative_groups' own barrier on it (details/sync.h: arrivals counted
/// below bit 31, block 0 flips bit 31 when the last block arrives), so both
/// kinds of grid sync share one barrier. Flag bit 0 (cudaCGSynchronizeGrid):
/// one thread of each block calls, between its caller's own bar.syncs.
/// Empty for the other syscalls.
std::string_view cooperativeGroupsSyscall(std::string_view name) {
  if (name == "__cuda_syscall_CGS_get_intrinsic_handle")
    return R"(.visible .func (.param .b64 cuvirt_ret) __cuda_syscall_CGS_get_intrinsic_handle(.param .b32 cuvirt_scope)
{
  .reg .pred %p<2>;
  .reg .b32 %r<4>;
  .reg .b64 %rd<4>;
  ld.param.u32 %r1, [cuvirt_scope];
  setp.ne.s32 %p1, %r1, 1; // cudaCGScopeGrid only: no multi-device grids
  mov.u32 %r2, %envreg1;
  mov.u32 %r3, %envreg2;
  mov.b64 %rd1, {%r3, %r2};
  selp.b64 %rd2, 0, %rd1, %p1;
  st.param.b64 [cuvirt_ret], %rd2;
  ret;
}
)";
  if (name == "__cuda_syscall_CGS_sync")
    return R"(.visible .func (.param .b32 cuvirt_ret) __cuda_syscall_CGS_sync(.param .b64 cuvirt_handle, .param .b32 cuvirt_flags)
{
  .reg .pred %p<5>;
  .reg .b32 %r<20>;
  .reg .b64 %rd<3>;
  ld.param.u64 %rd1, [cuvirt_handle];
  ld.param.u32 %r1, [cuvirt_flags];
  mov.u32 %r19, 999; // cudaErrorUnknown, as libcudadevrt for a null handle
  setp.eq.s64 %p4, %rd1, 0;
  @%p4 bra $cuvirt_ret;
  and.b32 %r2, %r1, 1;
  setp.ne.s32 %p1, %r2, 0;
  @%p1 bra $cuvirt_arrive;
  bar.sync 0;
  mov.u32 %r3, %tid.x;
  mov.u32 %r4, %tid.y;
  mov.u32 %r5, %tid.z;
  add.s32 %r6, %r3, %r4;
  add.s32 %r6, %r6, %r5;
  setp.ne.s32 %p2, %r6, 0;
  @%p2 bra $cuvirt_done;
$cuvirt_arrive:
  mov.u32 %r7, %nctaid.x;
  mov.u32 %r8, %nctaid.y;
  mov.u32 %r9, %nctaid.z;
  mul.lo.u32 %r10, %r7, %r8;
  mul.lo.u32 %r10, %r10, %r9;
  mov.u32 %r11, %ctaid.x;
  mov.u32 %r12, %ctaid.y;
  mov.u32 %r13, %ctaid.z;
  add.s32 %r14, %r11, %r12;
  add.s32 %r14, %r14, %r13;
  setp.eq.s32 %p3, %r14, 0;
  sub.u32 %r15, -2147483647, %r10; // block 0: 0x80000000 - (blocks - 1)
  selp.b32 %r16, %r15, 1, %p3;
  add.s64 %rd2, %rd1, 4;
  atom.add.release.gpu.u32 %r17, [%rd2], %r16;
$cuvirt_wait:
  ld.acquire.gpu.u32 %r18, [%rd2];
  xor.b32 %r18, %r18, %r17;
  and.b32 %r18, %r18, -2147483648;
  setp.eq.s32 %p3, %r18, 0;
  @%p3 bra $cuvirt_wait;
  @%p1 bra $cuvirt_ok;
$cuvirt_done:
  bar.sync 0;
$cuvirt_ok:
  mov.u32 %r19, 0;
$cuvirt_ret:
  st.param.b32 [cuvirt_ret], %r19;
  ret;
}
)";
  // get_size(u32 *threads, u32 *grids, handle) / get_rank(u32 *rank, u32
  // *grid, handle): one grid per launch (no multi-device launches)
  if (name == "__cuda_syscall_CGS_get_size" || name == "__cuda_syscall_CGS_get_rank") {
    static const std::string size = R"(
  mov.u32 %r5, %nctaid.x;
  mov.u32 %r6, %nctaid.y;
  mov.u32 %r7, %nctaid.z;
  mul.lo.u32 %r8, %r5, %r6;
  mul.lo.u32 %r8, %r8, %r7;
  mul.lo.u32 %r9, %r4, %r8;
  mov.u32 %r10, 1;
)";
    static const std::string rank = R"(
  mov.u32 %r5, %nctaid.x;
  mov.u32 %r6, %nctaid.y;
  mov.u32 %r7, %ctaid.z;
  mov.u32 %r8, %ctaid.y;
  mad.lo.u32 %r8, %r7, %r6, %r8;
  mov.u32 %r7, %ctaid.x;
  mad.lo.u32 %r8, %r8, %r5, %r7;
  mov.u32 %r5, %tid.z;
  mov.u32 %r6, %tid.y;
  mad.lo.u32 %r6, %r5, %r2, %r6;
  mov.u32 %r5, %tid.x;
  mad.lo.u32 %r6, %r6, %r1, %r5;
  mad.lo.u32 %r9, %r8, %r4, %r6;
  mov.u32 %r10, 0;
)";
    // Each body sets %r9 (for *a) and %r10 (for *b) from %r1-%r3 (ntid) and
    // %r4 (threads per block), which def computes first.
    static const auto def = [](std::string_view fn, const std::string &body) {
      return fmt::format(
          R"(.visible .func (.param .b32 cuvirt_ret) {}(.param .b64 cuvirt_a, .param .b64 cuvirt_b, .param .b64 cuvirt_handle)
{{
  .reg .pred %p<3>;
  .reg .b32 %r<12>;
  .reg .b64 %rd<4>;
  ld.param.u64 %rd1, [cuvirt_a];
  ld.param.u64 %rd2, [cuvirt_b];
  ld.param.u64 %rd3, [cuvirt_handle];
  mov.u32 %r11, 999;
  setp.eq.s64 %p1, %rd3, 0;
  @%p1 bra $cuvirt_ret;
  mov.u32 %r1, %ntid.x;
  mov.u32 %r2, %ntid.y;
  mov.u32 %r3, %ntid.z;
  mul.lo.u32 %r4, %r1, %r2;
  mul.lo.u32 %r4, %r4, %r3;{}  mov.u32 %r11, 0;
  setp.eq.s64 %p1, %rd1, 0;
  @%p1 bra $cuvirt_b;
  st.u32 [%rd1], %r9;
$cuvirt_b:
  setp.eq.s64 %p2, %rd2, 0;
  @%p2 bra $cuvirt_ret;
  st.u32 [%rd2], %r10;
$cuvirt_ret:
  st.param.b32 [cuvirt_ret], %r11;
  ret;
}}
)",
          fn, body);
    };
    static const std::string getSize = def("__cuda_syscall_CGS_get_size", size);
    static const std::string getRank = def("__cuda_syscall_CGS_get_rank", rank);
    return name == "__cuda_syscall_CGS_get_size" ? getSize : getRank;
  }
  return {};
}

/// The device runtime's launch syscalls, which libcudadevrt's
/// cudaGetParameterBufferV2 / cudaLaunchDeviceV2 (nvcc's `<<<>>>` in device
/// code) call: real, through the CPU backend's device-launch helpers (a
/// stub's error is ignored by the `<<<>>>` code: the child silently never
/// ran). Streams and events in device code succeed and order nothing
/// beyond launch order (children run after their parent grid, in order).
/// Empty for the other syscalls.
std::string_view deviceLaunchSyscall(std::string_view name) {
  if (name == "__cuda_syscall_cnpv2GetParameterBufferV2")
    return R"(.extern .func (.param .b64 cuvirt_r) cuvirt_cpu_cdp_param_buffer(.param .b64 cuvirt_k,
  .param .b32 cuvirt_gx, .param .b32 cuvirt_gy, .param .b32 cuvirt_gz,
  .param .b32 cuvirt_bx, .param .b32 cuvirt_by, .param .b32 cuvirt_bz, .param .b32 cuvirt_s);
.visible .func (.param .b64 cuvirt_ret) __cuda_syscall_cnpv2GetParameterBufferV2(.param .b64 cuvirt_kernel,
  .param .align 4 .b8 cuvirt_grid[12], .param .align 4 .b8 cuvirt_block[12], .param .b32 cuvirt_shared)
{
  .reg .b32 %r<8>;
  .reg .b64 %rd<3>;
  ld.param.u64 %rd1, [cuvirt_kernel];
  ld.param.u32 %r1, [cuvirt_grid];
  ld.param.u32 %r2, [cuvirt_grid+4];
  ld.param.u32 %r3, [cuvirt_grid+8];
  ld.param.u32 %r4, [cuvirt_block];
  ld.param.u32 %r5, [cuvirt_block+4];
  ld.param.u32 %r6, [cuvirt_block+8];
  ld.param.u32 %r7, [cuvirt_shared];
  {
  .param .b64 p0;
  st.param.b64 [p0], %rd1;
  .param .b32 p1;
  st.param.b32 [p1], %r1;
  .param .b32 p2;
  st.param.b32 [p2], %r2;
  .param .b32 p3;
  st.param.b32 [p3], %r3;
  .param .b32 p4;
  st.param.b32 [p4], %r4;
  .param .b32 p5;
  st.param.b32 [p5], %r5;
  .param .b32 p6;
  st.param.b32 [p6], %r6;
  .param .b32 p7;
  st.param.b32 [p7], %r7;
  .param .b64 r;
  call.uni (r), cuvirt_cpu_cdp_param_buffer, (p0, p1, p2, p3, p4, p5, p6, p7);
  ld.param.b64 %rd2, [r];
  }
  st.param.b64 [cuvirt_ret], %rd2;
  ret;
}
)";
  if (name == "__cuda_syscall_cnpv2LaunchDeviceV2")
    return R"(.extern .func (.param .b32 cuvirt_r) cuvirt_cpu_cdp_launch(.param .b64 cuvirt_b, .param .b64 cuvirt_s);
.visible .func (.param .b32 cuvirt_ret) __cuda_syscall_cnpv2LaunchDeviceV2(.param .b64 cuvirt_buffer,
  .param .b64 cuvirt_stream)
{
  .reg .b32 %r<2>;
  .reg .b64 %rd<3>;
  ld.param.u64 %rd1, [cuvirt_buffer];
  ld.param.u64 %rd2, [cuvirt_stream];
  {
  .param .b64 p0;
  st.param.b64 [p0], %rd1;
  .param .b64 p1;
  st.param.b64 [p1], %rd2;
  .param .b32 r;
  call.uni (r), cuvirt_cpu_cdp_launch, (p0, p1);
  ld.param.b32 %r1, [r];
  }
  st.param.b32 [cuvirt_ret], %r1;
  ret;
}
)";
  // The rest succeed, storing a handle or value through their pointer if any.
  static const std::map<std::string, std::string, std::less<>> succeeding = [] {
    std::map<std::string, std::string, std::less<>> m;
    auto add = [&](const std::string &fn, const char *params, const char *store) {
      m[fn] = fmt::format(R"(.visible .func (.param .b32 cuvirt_ret) {}({})
{{
  .reg .b64 %rd<2>;
  {}
  st.param.b32 [cuvirt_ret], 0;
  ret;
}}
)",
                          fn, params, store);
    };
    const std::string p = "__cuda_syscall_cnpv2";
    add(p + "StreamCreate", ".param .b64 cuvirt_p, .param .b32 cuvirt_f",
        "ld.param.u64 %rd1, [cuvirt_p];\n  st.u64 [%rd1], 16;");
    add(p + "EventCreate", ".param .b64 cuvirt_p, .param .b32 cuvirt_f",
        "ld.param.u64 %rd1, [cuvirt_p];\n  st.u64 [%rd1], 32;");
    add(p + "GetDevice", ".param .b64 cuvirt_p", "ld.param.u64 %rd1, [cuvirt_p];\n  st.u32 [%rd1], 0;");
    add(p + "GetDeviceCount", ".param .b64 cuvirt_p", "ld.param.u64 %rd1, [cuvirt_p];\n  st.u32 [%rd1], 1;");
    add(p + "StreamDestroy", ".param .b64 cuvirt_s", "");
    add(p + "EventDestroy", ".param .b64 cuvirt_e", "");
    add(p + "EventRecord", ".param .b64 cuvirt_e, .param .b64 cuvirt_s", "");
    add(p + "StreamWaitEvent", ".param .b64 cuvirt_s, .param .b64 cuvirt_e, .param .b32 cuvirt_f", "");
    add(p + "GetLastError", "", "");
    add(p + "SetLastError", ".param .b32 cuvirt_e", "");
    return m;
  }();
  if (auto it = succeeding.find(name); it != succeeding.end())
    return it->second;
  return {};
}

enum class Role : std::uint8_t {
  Header,     ///< .version / .target / .address_size: replaced by one header
  Other,      ///< kept as is (.file, .pragma, internal prototypes, dynamic .extern .shared)
  Definition, ///< a symbol other modules can see (.entry, .visible, .weak, .common)
  Internal,   ///< a definition private to its module: renamed on collision
  Reference,  ///< a declaration resolved by a definition elsewhere
};

struct Stmt {
  std::size_t first = 0, last = 0; ///< token indices, inclusive
  Role role = Role::Other;
  std::vector<std::string> names;
  bool weak = false; ///< .weak / .common: another definition wins
  bool keep = true;
};

struct Unit {
  const PtxUnit *src = nullptr;
  std::vector<Token> toks;
  std::vector<Stmt> stmts;
  unsigned version = 0; ///< major * 10 + minor
  std::string target;   ///< the first .target name (sm_80)
  int sm = 0;
  bool included = false;
  std::map<std::string, std::string, std::less<>> renames;
};

bool before(ptx::SrcLoc a, ptx::SrcLoc b) { return a.line < b.line || (a.line == b.line && a.col < b.col); }

/// Top-level statements, mirroring the parser's module-level grammar.
std::vector<Stmt> split(const std::vector<Token> &t) {
  std::vector<Stmt> out;
  for (std::size_t i = 0; t[i].kind != Tok::End;) {
    Stmt s;
    s.first = i;
    if (t[i].isDir(".version") || t[i].isDir(".address_size") || t[i].isDir(".target"))
      s.role = Role::Header;
    i = ptx::topLevelStatementEnd(t, i);
    s.last = i - 1;
    out.push_back(std::move(s));
  }
  return out;
}

/// The statement holding source location `loc`.
Stmt *statementAt(Unit &u, ptx::SrcLoc loc) {
  auto it = std::upper_bound(u.stmts.begin(), u.stmts.end(), loc,
                             [&](ptx::SrcLoc l, const Stmt &s) { return before(l, u.toks[s.first].loc); });
  if (it == u.stmts.begin())
    return nullptr;
  return &*std::prev(it);
}

void classify(Stmt *s, Role role, const std::string &name, bool weak) {
  if (s == nullptr)
    return;
  // a statement declaring several variables keeps the first one's role
  if (s->names.empty()) {
    s->role = role;
    s->weak = weak;
  }
  s->names.push_back(name);
}

/// The front end's "line:col: message" lines as linker errors of `unit`.
void appendLines(std::string &log, const std::string &unit, std::string_view lines) {
  for (std::size_t at = 0; at < lines.size();) {
    auto nl = std::min(lines.find('\n', at), lines.size());
    log += fmt::format("error   : {}, {}\n", unit, lines.substr(at, nl - at));
    at = nl + 1;
  }
}

Status analyse(Unit &u, std::string &log) {
  const std::string &text = u.src->ptx;
  std::string parseLog;
  auto m = ptx::parse(text, parseLog);
  if (!m) {
    appendLines(log, u.src->name, parseLog);
    return error(CUDA_ERROR_INVALID_PTX, "link input {} is not valid PTX", u.src->name);
  }
  if (m->addressSize != 64) {
    log += fmt::format("error   : {}: {}-bit PTX cannot be linked (.address_size 64 only)\n", u.src->name,
                       m->addressSize);
    return error(CUDA_ERROR_INVALID_PTX, "link input {} is 32-bit PTX", u.src->name);
  }
  u.version = m->versionMajor * 10 + m->versionMinor;
  for (const auto &t : m->target) {
    if (t.rfind("sm_", 0) != 0)
      continue;
    u.target = t;
    u.sm = std::atoi(t.c_str() + 3);
    break;
  }
  u.toks = ptx::lex(text);
  u.stmts = split(u.toks);
  for (const auto &f : m->functions) {
    bool external = f.isEntry || f.isVisible || f.isWeak || f.isExtern;
    Role role = f.hasBody ? (external ? Role::Definition : Role::Internal)
                          : (external ? Role::Reference : Role::Other);
    classify(statementAt(u, f.loc), role, f.name, f.isWeak && !f.isVisible);
  }
  for (const auto &v : m->globals) {
    Role role;
    if (v.space == ptx::Space::Shared && v.isExtern)
      role = Role::Other; // dynamic shared memory: each module's own view
    else if (v.isExtern)
      role = Role::Reference;
    else if (v.isVisible || v.isWeak || v.isCommon)
      role = Role::Definition;
    else
      role = Role::Internal;
    classify(statementAt(u, v.loc), role, v.name, (v.isWeak || v.isCommon) && !v.isVisible);
  }
  return {};
}

/// The statement's text with the unit's renames applied.
void emit(const Unit &u, const Stmt &s, std::string &out) {
  const char *base = u.src->ptx.data();
  std::size_t pos = static_cast<std::size_t>(u.toks[s.first].text.data() - base);
  const std::size_t end =
      static_cast<std::size_t>(u.toks[s.last].text.data() - base) + u.toks[s.last].text.size();
  for (std::size_t i = s.first; i <= s.last && !u.renames.empty(); ++i) {
    const Token &t = u.toks[i];
    if (t.kind != Tok::Ident)
      continue;
    auto r = u.renames.find(t.text);
    if (r == u.renames.end())
      continue;
    std::size_t at = static_cast<std::size_t>(t.text.data() - base);
    out.append(base + pos, at - pos);
    out += r->second;
    pos = at + t.text.size();
  }
  out.append(base + pos, end - pos);
  out += '\n';
}

struct Site {
  std::size_t unit;
  Stmt *stmt;
};

} // namespace

Expected<std::string> linkPtx(const std::vector<PtxUnit> &units, std::string &log) {
  if (units.empty()) {
    log += "error   : nothing to link: no input was added\n";
    return error(CUDA_ERROR_INVALID_VALUE, "cuLinkComplete: no inputs");
  }
  std::vector<Unit> us(units.size());
  for (std::size_t i = 0; i < units.size(); ++i) {
    us[i].src = &units[i];
    us[i].included = !units[i].lazy;
    if (!units[i].lazy) {
      CUVIRT_TRY(analyse(us[i], log));
      continue;
    }
    // an archive member that does not parse can only be left out
    std::string memberLog;
    if (!analyse(us[i], memberLog).ok()) {
      us[i].stmts.clear();
      log += fmt::format("info    : '{}' left out: it is not valid PTX\n", units[i].name);
    }
  }

  // Archive members join while they define something still undefined.
  auto definedAndNeeded = [&](std::set<std::string, std::less<>> &defined, std::set<std::string> &needed) {
    defined.clear();
    needed.clear();
    for (auto &u : us)
      for (auto &s : u.stmts)
        if (u.included && s.role == Role::Definition)
          defined.insert(s.names.begin(), s.names.end());
    for (auto &u : us)
      for (auto &s : u.stmts)
        if (u.included && s.role == Role::Reference)
          for (auto &n : s.names)
            if (!defined.count(n) && !isBuiltin(n))
              needed.insert(n);
  };
  std::set<std::string, std::less<>> defined;
  std::set<std::string> needed;
  for (bool changed = true; changed;) {
    changed = false;
    definedAndNeeded(defined, needed);
    for (auto &u : us) {
      if (u.included)
        continue;
      for (auto &s : u.stmts)
        if (s.role == Role::Definition &&
            std::any_of(s.names.begin(), s.names.end(), [&](auto &n) { return needed.count(n) != 0; }))
          u.included = changed = true;
      if (u.included)
        break; // recompute what is needed with this member in
    }
  }

  // archive members were not checked when added: now they are needed
  for (auto &u : us) {
    if (!u.included || !u.src->lazy)
      continue;
    std::string checkLog;
    if (auto info = ptx::moduleInfo(u.src->ptx, checkLog); !info) {
      appendLines(log, u.src->name, checkLog);
      return info.status();
    }
  }

  std::map<std::string, std::vector<Site>> defs, refs;
  for (std::size_t i = 0; i < us.size(); ++i) {
    if (!us[i].included)
      continue;
    for (auto &s : us[i].stmts) {
      if (s.role == Role::Definition)
        for (auto &n : s.names)
          defs[n].push_back({i, &s});
      if (s.role == Role::Reference)
        for (auto &n : s.names)
          refs[n].push_back({i, &s});
    }
  }

  bool failed = false, undefined = false;
  std::string deviceRuntime; // definitions for the cnp* functions, placed first
  for (auto &[name, sites] : defs) {
    const Site *strong = nullptr;
    for (auto &site : sites) {
      if (site.stmt->weak)
        continue;
      if (strong != nullptr) {
        log += fmt::format("error   : Multiple definition of '{}' in '{}', first defined in '{}'\n", name,
                           units[site.unit].name, units[strong->unit].name);
        failed = true;
        continue;
      }
      strong = &site;
    }
    // the strong definition (else the first weak one) wins
    const Site *winner = strong != nullptr ? strong : &sites.front();
    for (auto &site : sites)
      if (&site != winner && site.stmt->names.size() == 1)
        site.stmt->keep = false;
  }
  for (auto &[name, sites] : refs) {
    if (defs.count(name)) {
      for (auto &site : sites)
        if (site.stmt->names.size() == 1)
          site.stmt->keep = false;
      continue;
    }
    if (isBuiltin(name)) {
      for (std::size_t k = 1; k < sites.size(); ++k)
        sites[k].stmt->keep = false; // one declaration is enough
      continue;
    }
    if (isDeviceRuntime(name) && sites.front().stmt->names.size() == 1) {
      for (auto &site : sites)
        site.stmt->keep = false;
      if (auto cg = cooperativeGroupsSyscall(name); !cg.empty()) {
        deviceRuntime += cg;
        continue;
      }
      if (auto launch = deviceLaunchSyscall(name); !launch.empty()) {
        deviceRuntime += launch;
        continue;
      }
      std::string decl;
      emit(us[sites.front().unit], *sites.front().stmt, decl);
      deviceRuntime += deviceRuntimeStub(std::move(decl));
      log +=
          fmt::format("info    : '{}' (device runtime) returns cudaErrorNotSupported on this device\n", name);
      continue;
    }
    for (auto &site : sites)
      log += fmt::format("error   : Undefined reference to '{}' in '{}'\n", name, units[site.unit].name);
    failed = undefined = true;
  }
  if (failed)
    return error(undefined ? CUDA_ERROR_NOT_FOUND : CUDA_ERROR_INVALID_PTX, "linking failed:\n{}", log);

  // Internal symbols keep their names unless an earlier module or another
  // module's external symbol already uses the name.
  std::set<std::string> external;
  for (auto &[n, s] : defs)
    external.insert(n);
  for (auto &[n, s] : refs)
    external.insert(n);
  std::set<std::string> taken;
  for (std::size_t i = 0; i < us.size(); ++i) {
    Unit &u = us[i];
    if (!u.included)
      continue;
    std::vector<std::string> mine;
    for (auto &s : u.stmts)
      for (auto &n : s.names) {
        if (s.role == Role::Internal && (taken.count(n) || external.count(n)))
          u.renames[n] = fmt::format("{}__cuvirt_link{}", n, i);
        mine.push_back(n);
      }
    taken.insert(mine.begin(), mine.end());
  }

  unsigned version = 0;
  int sm = 0;
  std::string target = "sm_52";
  for (auto &u : us) {
    if (!u.included)
      continue;
    version = std::max(version, u.version);
    if (u.sm > sm) {
      sm = u.sm;
      target = u.target;
    }
  }
  std::string out =
      fmt::format(".version {}.{}\n.target {}\n.address_size 64\n", version / 10, version % 10, target);
  std::string names;
  std::size_t linked = 0;
  for (auto &u : us)
    if (u.included) {
      names += fmt::format(" {}", u.src->name);
      ++linked;
    }
  out += fmt::format("// linked by cuvirt from:{}\n", names);
  if (!deviceRuntime.empty())
    out += "\n// ---- cuvirt: the device runtime's driver functions\n" + deviceRuntime;
  log += fmt::format("info    : linked {} PTX module(s):{}\n", linked, names);
  for (auto &u : us) {
    if (!u.included)
      continue;
    out += fmt::format("\n// ---- {}\n", u.src->name);
    for (auto &s : u.stmts)
      if (s.keep && s.role != Role::Header)
        emit(u, s, out);
    for (auto &[from, to] : u.renames)
      log += fmt::format("info    : '{}' in '{}' renamed to '{}' (internal symbol)\n", from, u.src->name, to);
  }
  return out;
}

} // namespace cuvirt::link

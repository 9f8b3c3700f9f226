// Tensor-core instructions: mma.sync, wmma.{load,store,mma}, ldmatrix,
// stmatrix, movmatrix. Operations that mix lanes' registers (mma, wmma.mma,
// ldmatrix, stmatrix, movmatrix) become one warp collective,
// `cuvirt.warp.matrix` (translate/ptx/matrix_abi.h): each lane stores its
// fragment registers in a private buffer, the target evaluates the warp's
// operation once, and each lane reads its results back. wmma.load/store need
// no other lane (cuvirt chooses the wmma fragment layout, matrix_abi.h's
// wmmaCoord), so they are plain per-lane loads and stores.
#include "translate/ptx/lower_context.h"
#include "translate/ptx/matrix_abi.h"
#include <fmt/format.h>

namespace cuvirt::ptx::lowering {

using namespace llvm;
namespace mx = cuvirt::matrix;

namespace {

struct Shape {
  unsigned m = 0, n = 0, k = 0;
};

// ".m16n8k16" -> {16, 8, 16}
bool parseShape(const std::string &mod, Shape &s) {
  unsigned v[3] = {0, 0, 0};
  const char keys[3] = {'m', 'n', 'k'};
  std::size_t i = 1;
  for (int f = 0; f < 3; ++f) {
    if (i >= mod.size() || mod[i] != keys[f])
      return false;
    ++i;
    if (i >= mod.size() || mod[i] < '0' || mod[i] > '9')
      return false;
    for (; i < mod.size() && mod[i] >= '0' && mod[i] <= '9'; ++i)
      v[f] = v[f] * 10 + unsigned(mod[i] - '0');
  }
  if (i != mod.size())
    return false;
  s = {v[0], v[1], v[2]};
  return true;
}

std::uint32_t elemOf(const std::string &mod) {
  static const std::pair<const char *, std::uint32_t> table[] = {
      {".f16", mx::kF16}, {".bf16", mx::kBF16}, {".tf32", mx::kTF32}, {".f32", mx::kF32}, {".f64", mx::kF64},
      {".s8", mx::kS8},   {".u8", mx::kU8},     {".s4", mx::kS4},     {".u4", mx::kU4},   {".s32", mx::kS32}};
  for (auto &[name, e] : table)
    if (mod == name)
      return e;
  return mx::kNone;
}

// The element types written in the modifiers, in order (".b1", ".e4m3"... give kNone entries).
std::vector<std::uint32_t> elemTypes(const Instr &in, bool &unknownType) {
  std::vector<std::uint32_t> out;
  unknownType = false;
  for (auto &m : in.mods) {
    if (std::uint32_t e = elemOf(m))
      out.push_back(e);
    else if (m == ".b1" || m == ".e4m3" || m == ".e5m2" || m == ".e2m1" || m == ".e3m2" || m == ".e2m3" ||
             m == ".b16" || m == ".b8")
      unknownType = true;
  }
  return out;
}

std::vector<const Operand *> regsOf(const Operand &o) {
  std::vector<const Operand *> out;
  if (o.kind == Operand::Kind::Vec)
    for (auto &e : o.elems)
      out.push_back(&e);
  else
    out.push_back(&o);
  return out;
}

// Registers a fragment of `elems` elements of type t takes.
unsigned regsFor(unsigned elems, std::uint32_t t) {
  unsigned bits = mx::elemBits(t);
  return bits >= 32 ? elems : elems * bits / 32;
}

class MatrixLowering {
public:
  MatrixLowering(FunctionLowering &l, const Instr &in) : L(l), B(l.B), in(in) {}
  Expected<Handled> run();

private:
  FunctionLowering &L;
  IRBuilder<> &B;
  const Instr &in;
  Value *buf_ = nullptr;

  Status err(std::string_view msg) { return L.err(in.loc, fmt::format("{}: {}", full(), msg)); }
  std::string full() const {
    std::string s = in.opcode;
    for (auto &m : in.mods)
      s += m;
    return s;
  }
  Handled unsupported(std::string_view why);
  Value *buffer();
  Value *word(unsigned w) { return B.CreateConstInBoundsGEP1_32(B.getInt8Ty(), buffer(), 4 * w); }
  Status storeRegs(const Operand &o, unsigned firstWord, unsigned count, unsigned regBits);
  Status loadRegs(const Operand &o, unsigned firstWord, unsigned count, unsigned regBits);
  void collective(std::uint32_t desc, std::uint32_t types);
  Expected<Handled> mma(bool wmma);
  Expected<Handled> wmmaLoadStore(bool store);
  Expected<Handled> ldStMatrix(bool store);
  Expected<Handled> movMatrix();
};

// Instructions of these families that cuvirt does not run: a clear message
// when a kernel using them is compiled (cuvirt.unsupported, NOT_SUPPORTED).
Handled MatrixLowering::unsupported(std::string_view why) {
  std::string msg =
      fmt::format("{}:{}: instruction '{}' is not supported ({})", in.loc.line, in.loc.col, full(), why);
  Value *str = B.CreateGlobalString(msg, "cuvirt.unsupported.msg", L.M.hooks.constAS);
  L.call("cuvirt.unsupported", B.getVoidTy(), {L.coerce(str, B.getPtrTy(), false)});
  return Handled::Yes;
}

// One buffer per function, in the entry block, shared by every matrix
// instruction: a target keeps it per thread (the CPU: one frame slot).
Value *MatrixLowering::buffer() {
  if (buf_)
    return buf_;
  BasicBlock &entry = L.fn->getEntryBlock();
  for (Instruction &i : entry)
    if (auto *a = dyn_cast<AllocaInst>(&i); a && a->getName() == "cuvirt.matrix.buf")
      return buf_ = a;
  IRBuilder<> eb(&entry, entry.getFirstInsertionPt());
  auto *a = eb.CreateAlloca(ArrayType::get(B.getInt8Ty(), mx::kBufBytes), nullptr, "cuvirt.matrix.buf");
  a->setAlignment(Align(16));
  return buf_ = a;
}

Status MatrixLowering::storeRegs(const Operand &o, unsigned firstWord, unsigned count, unsigned regBits) {
  auto regs = regsOf(o);
  if (regs.size() != count)
    return err(fmt::format("expected {} registers in this operand, got {}", count, regs.size()));
  for (unsigned r = 0; r < count; ++r) {
    PTX_GET(v, L.get(*regs[r], regBits == 64 ? Type::B64 : Type::B32));
    B.CreateStore(v, word(firstWord + r * regBits / 32));
  }
  return Status::success();
}

Status MatrixLowering::loadRegs(const Operand &o, unsigned firstWord, unsigned count, unsigned regBits) {
  auto regs = regsOf(o);
  if (regs.size() != count)
    return err(fmt::format("expected {} registers in this operand, got {}", count, regs.size()));
  for (unsigned r = 0; r < count; ++r) {
    Value *v = B.CreateLoad(L.intTy(regBits), word(firstWord + r * regBits / 32));
    CUVIRT_TRY(L.set(*regs[r], v, regBits == 64 ? Type::B64 : Type::B32));
  }
  return Status::success();
}

void MatrixLowering::collective(std::uint32_t desc, std::uint32_t types) {
  Value *p = B.CreatePtrToInt(buffer(), B.getInt64Ty());
  L.call("cuvirt.warp.matrix", B.getVoidTy(),
         {B.getInt32(0xffffffffu), p, B.getInt32(desc), B.getInt32(types)});
}

// mma.sync.aligned.shape.alayout.blayout[.satfinite].dtype.atype.btype.ctype d, a, b, c
// (f16: .dtype.f16.f16.ctype); wmma.mma.sync.aligned.alayout.blayout.shape.dtype.ctype
// (f16) or .dtype.atype.btype.ctype (others), [.satfinite], f64 with .rn.
Expected<Handled> MatrixLowering::mma(bool wmma) {
  if (in.ops.size() != 4)
    return err("expects d, a, b, c");
  Shape s;
  for (auto &m : in.mods)
    if (parseShape(m, s))
      break;
  if (!s.m)
    return err("missing the shape (.m16n8k16 ...)");
  bool unknownType = false;
  auto t = elemTypes(in, unknownType);
  if (unknownType)
    return unsupported("b1, fp8 and fp6/fp4 matrices are not implemented");
  for (auto &m : in.mods)
    if (m == ".sp" || m == ".block_scale" || m == ".kind::f8f6f4" || m == ".kind::mxf4")
      return unsupported("sparse and block-scaled mma are not implemented");
  if (in.has(".rz") || in.has(".rm") || in.has(".rp"))
    return unsupported("directed rounding of f64 mma is not implemented");
  std::uint32_t ta, tb, tc, td;
  if (t.size() == 2 && wmma) { // f16: dtype.ctype
    td = t[0], tc = t[1], ta = tb = mx::kF16;
  } else if (t.size() == 4) {
    td = t[0], ta = t[1], tb = t[2], tc = t[3];
  } else {
    return err("expects the types .dtype.atype.btype.ctype");
  }
  bool satfinite = in.has(".satfinite");
  auto isInt = [](std::uint32_t e) { return e == mx::kS8 || e == mx::kU8 || e == mx::kS4 || e == mx::kU4; };
  bool ok = false;
  if (ta == mx::kF16 && tb == mx::kF16)
    ok = (td == mx::kF16 || td == mx::kF32) && (tc == mx::kF16 || tc == mx::kF32);
  else if ((ta == mx::kBF16 && tb == mx::kBF16) || (ta == mx::kTF32 && tb == mx::kTF32))
    ok = td == mx::kF32 && tc == mx::kF32;
  else if (ta == mx::kF64 && tb == mx::kF64)
    ok = td == mx::kF64 && tc == mx::kF64;
  else if (isInt(ta) && isInt(tb))
    ok = td == mx::kS32 && tc == mx::kS32 && (mx::elemBits(ta) == mx::elemBits(tb));
  if (!ok)
    return err("unsupported combination of matrix types");
  if (wmma && (ta == mx::kS4 || ta == mx::kU4))
    return unsupported("s4/u4 wmma is not implemented");
  // Shapes: mma.sync's m16n8kK / m8n8kK with a fragment layout the ISA
  // documents for these types (m8n8k4 f16, Volta's quad-pair layout, is not
  // here); wmma's m16n16k16, m32n8k16, m8n32k16, m16n16k8 (tf32), m8n8k4 (f64).
  unsigned bitsA = mx::elemBits(ta);
  bool shapeOk;
  if (wmma) {
    shapeOk =
        (s.k == 16 && ((s.m == 16 && s.n == 16) || (s.m == 32 && s.n == 8) || (s.m == 8 && s.n == 32)) &&
         bitsA <= 16) ||
        (ta == mx::kTF32 && s.m == 16 && s.n == 16 && s.k == 8) ||
        (ta == mx::kF64 && s.m == 8 && s.n == 8 && s.k == 4);
  } else {
    // n is 8; (m, k) per input width, as the ISA lists them
    static const struct {
      unsigned bits, m, k;
    } shapes[] = {{64, 8, 4},  {64, 16, 4}, {64, 16, 8},  {64, 16, 16}, {32, 16, 4},
                  {32, 16, 8}, {16, 16, 8}, {16, 16, 16}, {8, 8, 16},   {8, 16, 16},
                  {8, 16, 32}, {4, 8, 32},  {4, 16, 32},  {4, 16, 64}};
    shapeOk = false;
    for (auto &sh : shapes)
      shapeOk = shapeOk || (s.n == 8 && sh.bits == bitsA && sh.m == s.m && sh.k == s.k);
  }
  if (!shapeOk) {
    if (!wmma && s.m == 8 && s.n == 8 && s.k == 4)
      return unsupported("m8n8k4 with .f16 inputs (the sm_70 quad-pair layout) is not implemented");
    return err(fmt::format("unsupported shape m{}n{}k{} for these types", s.m, s.n, s.k));
  }
  unsigned regBits[3] = {bitsA == 64 ? 64u : 32u, bitsA == 64 ? 64u : 32u,
                         mx::elemBits(tc) == 64 ? 64u : 32u};
  unsigned elems[3];
  if (wmma) {
    elems[0] = mx::wmmaElems(true, ta, s.m, s.k);
    elems[1] = mx::wmmaElems(true, tb, s.k, s.n);
  } else {
    elems[0] = s.m * s.k / 32;
    elems[1] = s.k * s.n / 32;
  }
  elems[2] = s.m * s.n / 32;
  unsigned regs[4] = {regsFor(elems[0], ta), regsFor(elems[1], tb), regsFor(elems[2], tc),
                      regsFor(elems[2], td)};
  CUVIRT_TRY(storeRegs(in.ops[1], mx::kA, regs[0], regBits[0]));
  CUVIRT_TRY(storeRegs(in.ops[2], mx::kB, regs[1], regBits[1]));
  CUVIRT_TRY(storeRegs(in.ops[3], mx::kC, regs[2], regBits[2]));
  collective(mx::mmaDesc(wmma ? mx::kWmmaMma : mx::kMma, s.m, s.n, s.k),
             mx::mmaTypes(ta, tb, tc, td, satfinite));
  CUVIRT_TRY(loadRegs(in.ops[0], mx::kC, regs[3], mx::elemBits(td) == 64 ? 64 : 32));
  return Handled::Yes;
}

// wmma.load.{a,b,c}.sync.aligned.layout.shape[.ss].type r, [p][, stride]
// wmma.store.d.sync.aligned.layout.shape[.ss].type [p], r[, stride]
// Per lane: element e of the fragment is logical (row, col) = wmmaCoord,
// at p + (layout row ? row*stride + col : col*stride + row) elements.
Expected<Handled> MatrixLowering::wmmaLoadStore(bool store) {
  if (in.ops.size() != 2 && in.ops.size() != 3)
    return err(store ? "expects [p], r[, stride]" : "expects r, [p][, stride]");
  char which = store ? 'd' : 0;
  for (const char *w : {".a", ".b", ".c", ".d"})
    if (in.has(w))
      which = w[1];
  if (!which || (store && which != 'd') || (!store && which == 'd'))
    return err(store ? "needs .d" : "needs .a, .b or .c");
  bool rowLayout = in.has(".row");
  if (!rowLayout && !in.has(".col"))
    return err("needs .row or .col");
  Shape s;
  for (auto &m : in.mods)
    if (parseShape(m, s))
      break;
  if (!s.m)
    return err("missing the shape");
  bool unknownType = false;
  auto ts = elemTypes(in, unknownType);
  if (unknownType)
    return unsupported("b1 wmma is not implemented");
  if (ts.size() != 1)
    return err("expects one element type");
  std::uint32_t t = ts[0];
  if (t == mx::kS4 || t == mx::kU4)
    return unsupported("s4/u4 wmma is not implemented");
  unsigned rows = which == 'a' ? s.m : which == 'b' ? s.k : s.m;
  unsigned cols = which == 'a' ? s.k : s.n;
  bool isAB = which == 'a' || which == 'b';
  unsigned bits = mx::elemBits(t);
  if (!bits || rows * cols % 32 || (isAB && (t == mx::kF32 || t == mx::kS32)) ||
      (!isAB && t != mx::kF16 && t != mx::kF32 && t != mx::kS32 && t != mx::kF64))
    return err("unsupported fragment type");
  unsigned elems = mx::wmmaElems(isAB, t, rows, cols), u = rows * cols / 32;
  unsigned regBits = bits == 64 ? 64 : 32, per = regBits / bits;
  auto regs = regsOf(in.ops[store ? 1 : 0]);
  if (regs.size() * per != elems)
    return err(fmt::format("expected {} registers, got {}", elems / per, regs.size()));
  PTX_GET(base, L.address(in.ops[store ? 0 : 1], FunctionLowering::space(in)));
  Value *stride = B.getInt32(rowLayout ? cols : rows);
  if (in.ops.size() == 3) {
    PTX_GET(sv, L.get(in.ops[2], Type::U32));
    stride = sv;
  }
  Value *stride64 = B.CreateZExt(stride, B.getInt64Ty());
  Value *lane = B.CreateZExt(L.call("cuvirt.laneid", L.i32(), {}), B.getInt64Ty());
  llvm::Type *et = L.intTy(bits);
  auto elemAddr = [&](unsigned e) {
    // i = lane * u + e % u; row = i / cols; col = i % cols (cols a power of two)
    Value *i = B.CreateAdd(B.CreateMul(lane, B.getInt64(u)), B.getInt64(e % u));
    Value *row = B.CreateUDiv(i, B.getInt64(cols)), *col = B.CreateURem(i, B.getInt64(cols));
    Value *off = rowLayout ? B.CreateAdd(B.CreateMul(row, stride64), col)
                           : B.CreateAdd(B.CreateMul(col, stride64), row);
    return B.CreateGEP(et, base, off);
  };
  Align al(bits / 8);
  for (unsigned r = 0; r < regs.size(); ++r) {
    if (store) {
      PTX_GET(v, L.get(*regs[r], regBits == 64 ? Type::B64 : Type::B32));
      for (unsigned j = 0; j < per; ++j) {
        unsigned e = r * per + j;
        if (e >= u) // replicas hold the same element: store it once
          continue;
        Value *x = B.CreateTrunc(B.CreateLShr(v, std::uint64_t(j) * bits), et);
        B.CreateAlignedStore(x, elemAddr(e), al);
      }
      continue;
    }
    Value *v = ConstantInt::get(L.intTy(regBits), 0);
    for (unsigned j = 0; j < per; ++j) {
      Value *x = B.CreateAlignedLoad(et, elemAddr(r * per + j), al);
      v = B.CreateOr(v, B.CreateShl(B.CreateZExt(x, L.intTy(regBits)), std::uint64_t(j) * bits));
    }
    CUVIRT_TRY(L.set(*regs[r], v, regBits == 64 ? Type::B64 : Type::B32));
  }
  return Handled::Yes;
}

// ldmatrix.sync.aligned.m8n8.xN[.trans][.ss].b16 d, [p]
// stmatrix.sync.aligned.m8n8.xN[.trans][.ss].b16 [p], r
Expected<Handled> MatrixLowering::ldStMatrix(bool store) {
  if (in.ops.size() != 2)
    return err(store ? "expects [p], r" : "expects d, [p]");
  if (!in.has(".m8n8") || !in.has(".b16"))
    return unsupported("only the .m8n8 .b16 form is implemented");
  unsigned count = in.has(".x1") ? 1 : in.has(".x2") ? 2 : in.has(".x4") ? 4 : 0;
  if (!count)
    return err("needs .x1, .x2 or .x4");
  Space sp = FunctionLowering::space(in);
  if (sp != Space::Shared && sp != Space::Generic)
    return err("the matrix must be in shared memory");
  PTX_GET(p, L.address(in.ops[store ? 0 : 1], sp));
  B.CreateStore(B.CreatePtrToInt(p, B.getInt64Ty()),
                B.CreateConstInBoundsGEP1_32(B.getInt8Ty(), buffer(), mx::kAddr));
  if (store)
    CUVIRT_TRY(storeRegs(in.ops[1], 0, count, 32));
  collective(mx::ldmDesc(store ? mx::kStmatrix : mx::kLdmatrix, count, in.has(".trans")), 0);
  if (!store)
    CUVIRT_TRY(loadRegs(in.ops[0], 0, count, 32));
  return Handled::Yes;
}

// movmatrix.sync.aligned.m8n8.trans.b16 d, a
Expected<Handled> MatrixLowering::movMatrix() {
  if (in.ops.size() != 2 || !in.has(".trans") || !in.has(".m8n8"))
    return err("expects movmatrix.sync.aligned.m8n8.trans.b16 d, a");
  CUVIRT_TRY(storeRegs(in.ops[1], 0, 1, 32));
  collective(mx::ldmDesc(mx::kMovmatrix, 1, true), 0);
  CUVIRT_TRY(loadRegs(in.ops[0], 0, 1, 32));
  return Handled::Yes;
}

Expected<Handled> MatrixLowering::run() {
  const std::string &op = in.opcode;
  if (op == "mma")
    return mma(false);
  if (op == "wmma") {
    if (in.has(".load"))
      return wmmaLoadStore(false);
    if (in.has(".store"))
      return wmmaLoadStore(true);
    if (in.has(".mma"))
      return mma(true);
    return unsupported("unknown wmma form");
  }
  if (op == "ldmatrix")
    return ldStMatrix(false);
  if (op == "stmatrix")
    return ldStMatrix(true);
  if (op == "movmatrix")
    return movMatrix();
  if (op == "wgmma")
    return unsupported("sm_90a warpgroup MMA is not implemented");
  return Handled::No;
}

} // namespace

Expected<Handled> lowerMatrix(FunctionLowering &l, const Instr &in); // called by lower_parallel.cpp
Expected<Handled> lowerMatrix(FunctionLowering &l, const Instr &in) { return MatrixLowering(l, in).run(); }

} // namespace cuvirt::ptx::lowering

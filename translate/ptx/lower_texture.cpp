// Texture and surface instructions (tex, tld4, txq, suld, sust, suq) as calls
// to target runtime functions that take the object handle (the address of a
// runtime/texture_abi.h descriptor) and the coordinates; every target
// implements the same few calls (translate/KERNEL_IR.md).
#include "runtime/texture_abi.h"
#include "translate/ptx/lower_context.h"
#include <fmt/format.h>

namespace cuvirt::ptx::lowering {

using namespace llvm;

namespace {

struct GeometryInfo {
  const char *mod;
  tex::Geometry geometry;
  bool layered;    ///< the first coordinate is the layer index
  unsigned coords; ///< coordinates besides the layer
};

constexpr GeometryInfo kGeometries[] = {
    {".1d", tex::Geom1D, false, 1},
    {".2d", tex::Geom2D, false, 2},
    {".3d", tex::Geom3D, false, 3},
    {".a1d", tex::GeomLayered1D, true, 1},
    {".a2d", tex::GeomLayered2D, true, 2},
    {".cube", tex::GeomCube, false, 3},
    {".acube", tex::GeomLayeredCube, true, 3},
};

const GeometryInfo *geometryOf(const Instr &in) {
  for (const auto &g : kGeometries)
    if (in.has(g.mod))
      return &g;
  return nullptr;
}

/// The elements of a `{a, b}` operand, or the operand itself.
std::vector<const Operand *> elements(const Operand &o) {
  std::vector<const Operand *> out;
  if (o.kind == Operand::Kind::Vec)
    for (const Operand &e : o.elems)
      out.push_back(&e);
  else
    out.push_back(&o);
  return out;
}

} // namespace

Expected<Handled> FunctionLowering::lowerTexture(const Instr &in) {
  const std::string &op = in.opcode;
  if (op != "tex" && op != "tld4" && op != "txq" && op != "suld" && op != "sust" && op != "suq" &&
      op != "sured")
    return Handled::No;
  auto f32 = B.getFloatTy();
  // The object: [handle, ...]. Texture references (.texref globals) are gone
  // from CUDA 12; only handles in registers are supported.
  if (in.ops.size() < 2 || in.ops[op == "sust" || op == "sured" ? 0 : 1].kind != Operand::Kind::Addr)
    return err(in.loc, fmt::format("{} expects a [handle, coordinates] operand", op));
  const Operand &obj = in.ops[op == "sust" || op == "sured" ? 0 : 1];
  Operand handleOp;
  handleOp.kind = Operand::Kind::Reg;
  handleOp.loc = obj.loc;
  handleOp.name = obj.name;
  {
    PTX_GET(s, lookup(obj.name, obj.loc));
    if (s.kind != Symbol::Kind::Reg)
      return err(obj.loc, fmt::format("{}: texture references ('{}') are not supported; use texture objects",
                                      op, obj.name));
  }
  PTX_GET(handle, get(handleOp, Type::B64));

  if (op == "txq" || op == "suq") {
    static const std::pair<const char *, tex::Query> queries[] = {
        {".width", tex::QueryWidth},
        {".height", tex::QueryHeight},
        {".depth", tex::QueryDepth},
        {".channel_data_type", tex::QueryChannelDataType},
        {".channel_order", tex::QueryChannelOrder},
        {".normalized_coords", tex::QueryNormalizedCoords},
        {".filter_mode", tex::QueryFilterMode},
        {".addr_mode_0", tex::QueryAddrMode0},
        {".addr_mode_1", tex::QueryAddrMode1},
        {".addr_mode_2", tex::QueryAddrMode2},
        {".array_size", tex::QueryArraySize},
        {".num_mipmap_levels", tex::QueryNumMipmapLevels},
        {".num_samples", tex::QueryNumSamples},
        {".memory_layout", tex::QueryMemoryLayout},
    };
    int query = -1;
    for (auto &[m, q] : queries)
      if (in.has(m))
        query = q;
    if (query < 0)
      return err(in.loc, fmt::format("{}: unknown query", op));
    Value *r;
    if (op == "txq") {
      Value *level = B.getInt32(0);
      if (in.has(".level")) {
        if (in.ops.size() != 3)
          return err(in.loc, "txq.level expects d, [a], lod");
        PTX_GET(l, get(in.ops[2], Type::S32));
        level = l;
      }
      r = call("cuvirt.txq", i32(), {handle, B.getInt32(unsigned(query)), level});
    } else {
      r = call("cuvirt.suq", i32(), {handle, B.getInt32(unsigned(query))});
    }
    CUVIRT_TRY(set(in.ops[0], r, Type::B32));
    return Handled::Yes;
  }

  const GeometryInfo *g = geometryOf(in);
  if (g == nullptr)
    return err(in.loc, fmt::format("{}: missing or unknown geometry", op));
  if (obj.elems.empty())
    return err(obj.loc, fmt::format("{}: missing coordinates", op));
  // [tex, sampler, coords] (independent mode): the sampler is the object.
  auto coords = elements(obj.elems.back());
  const unsigned want = (g->layered ? 1 : 0) + g->coords;
  if (coords.size() < want)
    return err(obj.loc, fmt::format("{}: {} coordinates, {} expected", op, coords.size(), want));

  // Layer index, then x, y, z (as 32-bit patterns).
  auto coordinates = [&](Type ct, Value *out[4]) -> Status {
    out[0] = out[1] = out[2] = out[3] = B.getInt32(0);
    unsigned k = 0;
    if (g->layered) {
      PTX_GET(l, get(*coords[k++], Type::S32));
      out[3] = l;
    }
    for (unsigned i = 0; i < g->coords; ++i) {
      PTX_GET(v, get(*coords[k++], ct));
      out[i] = coerce(v, i32(), false);
    }
    return Status::success();
  };

  if (op == "tex" || op == "tld4") {
    auto tys = types(in);
    if (tys.size() != 2)
      return err(in.loc, fmt::format("{} needs a destination and a coordinate type", op));
    const Type dt = tys[0], ct = tys[1];
    if (ct != Type::F32 && ct != Type::S32)
      return err(in.loc, fmt::format("{}: coordinates must be .f32 or .s32", op));
    std::uint32_t kind;
    if (dt == Type::F32 || dt == Type::F16 || dt == Type::F16x2)
      kind = tex::ResultF32;
    else if (dt == Type::S32)
      kind = tex::ResultS32;
    else if (dt == Type::U32)
      kind = tex::ResultU32;
    else
      return err(in.loc, fmt::format("{}: unsupported result type {}", op, typeName(dt)));
    std::uint32_t word = g->geometry | (kind << tex::kOpResultShift) |
                         (ct == Type::S32 ? std::uint32_t(tex::kOpIntCoords) : 0u);
    Value *lod = ConstantFP::get(f32, 0.0);
    Value *grad[6];
    for (auto &x : grad)
      x = ConstantFP::get(f32, 0.0);
    std::size_t next = 2;
    if (op == "tld4") {
      int comp = in.has(".r") ? 0 : in.has(".g") ? 1 : in.has(".b") ? 2 : in.has(".a") ? 3 : -1;
      if (comp < 0)
        return err(in.loc, "tld4 needs .r, .g, .b or .a");
      word |= tex::kOpGather | (std::uint32_t(comp) << tex::kOpGatherCompShift);
    } else if (in.has(".level")) {
      if (in.ops.size() < 3)
        return err(in.loc, "tex.level expects d, [a, c], lod");
      PTX_GET(l, get(in.ops[2], Type::F32));
      lod = l;
      word |= tex::ModeLevel << tex::kOpModeShift;
      next = 3;
    } else if (in.has(".grad")) {
      if (in.ops.size() < 4)
        return err(in.loc, "tex.grad expects d, [a, c], dPdx, dPdy");
      for (unsigned v = 0; v < 2; ++v) {
        auto es = elements(in.ops[2 + v]);
        for (unsigned i = 0; i < 3 && i < es.size(); ++i) {
          PTX_GET(x, get(*es[i], Type::F32));
          grad[v * 3 + i] = x;
        }
      }
      word |= tex::ModeGrad << tex::kOpModeShift;
      next = 4;
    }
    if (in.ops.size() > next)
      return err(in.loc, fmt::format("{}: texel offsets and depth comparison are not supported", op));
    Value *c[4];
    CUVIRT_TRY(coordinates(ct, c));
    AllocaInst *slot = makeSlot(ArrayType::get(i32(), 4), 16, "texel");
    call("cuvirt.tex", B.getVoidTy(),
         {slot, handle, B.getInt32(word), c[0], c[1], c[2], c[3], lod, grad[0], grad[1], grad[2], grad[3],
          grad[4], grad[5]});
    auto dst = elements(in.ops[0]);
    auto component = [&](unsigned i) {
      return B.CreateLoad(i32(), B.CreateConstInBoundsGEP1_32(i32(), slot, i));
    };
    if (dt == Type::F16x2) {
      // .v2.f16x2: components (0,1) and (2,3) packed as halves.
      for (unsigned i = 0; i < dst.size() && i < 2; ++i) {
        Value *lo = B.CreateFPTrunc(B.CreateBitCast(component(2 * i), f32), B.getHalfTy());
        Value *hi = B.CreateFPTrunc(B.CreateBitCast(component(2 * i + 1), f32), B.getHalfTy());
        Value *packed = B.CreateOr(B.CreateZExt(B.CreateBitCast(lo, B.getInt16Ty()), i32()),
                                   B.CreateShl(B.CreateZExt(B.CreateBitCast(hi, B.getInt16Ty()), i32()), 16));
        CUVIRT_TRY(set(*dst[i], packed, Type::B32));
      }
      return Handled::Yes;
    }
    for (unsigned i = 0; i < dst.size() && i < 4; ++i) {
      Value *v = component(i);
      if (dt == Type::F16) {
        v = B.CreateFPTrunc(B.CreateBitCast(v, f32), B.getHalfTy());
        CUVIRT_TRY(set(*dst[i], B.CreateBitCast(v, B.getInt16Ty()), Type::B16));
      } else {
        CUVIRT_TRY(set(*dst[i], v, dt == Type::F32 ? Type::B32 : dt));
      }
    }
    return Handled::Yes;
  }

  // suld.b / sust.b / sust.p
  if (in.has(".p") && op != "sust")
    return err(in.loc, fmt::format("{}.p is not supported", op));
  const bool formatted = in.has(".p");
  if (!formatted && !in.has(".b"))
    return err(in.loc, fmt::format("{} needs .b or .p", op));
  auto tys = types(in);
  if (tys.size() != 1)
    return err(in.loc, fmt::format("{} needs one data type", op));
  const Type dt = tys[0];
  const unsigned bytes = typeSize(dt);
  if (bytes != 1 && bytes != 2 && bytes != 4 && bytes != 8)
    return err(in.loc, fmt::format("{}: unsupported data type {}", op, typeName(dt)));
  const unsigned count = in.has(".v4") ? 4 : in.has(".v2") ? 2 : 1;
  std::uint32_t clamp = in.has(".clamp")  ? tex::SurfClampMode
                        : in.has(".zero") ? tex::SurfZero
                                          : tex::SurfTrap;
  std::uint32_t word = g->geometry | (bytes << tex::kSurfBytesShift) | (count << tex::kSurfCountShift) |
                       (clamp << tex::kSurfClampShift);
  // sust.p: the .b32 components are converted to the surface's format.
  if (formatted)
    word |= tex::kSurfFormatted;
  Value *c[4];
  CUVIRT_TRY(coordinates(Type::S32, c));
  AllocaInst *slot = makeSlot(ArrayType::get(B.getInt8Ty(), 32), 16, "surf");
  const Type bits = bytes == 1 ? Type::B8 : bytes == 2 ? Type::B16 : bytes == 4 ? Type::B32 : Type::B64;
  if (op == "suld") {
    call("cuvirt.suld", B.getVoidTy(), {slot, handle, B.getInt32(word), c[0], c[1], c[2], c[3]});
    auto dst = elements(in.ops[0]);
    for (unsigned i = 0; i < dst.size() && i < count; ++i) {
      Value *v = B.CreateLoad(intTy(bytes * 8), B.CreateConstInBoundsGEP1_32(B.getInt8Ty(), slot, i * bytes));
      CUVIRT_TRY(set(*dst[i], v, bits));
    }
    return Handled::Yes;
  }
  if (op == "sured") {
    // sured.b.op: an atomic read-modify-write of one 32/64-bit element.
    static const char *const ops[] = {".add", ".min", ".max", ".and", ".or"};
    int red = -1;
    for (int i = 0; i < 5; ++i)
      if (in.has(ops[i]))
        red = i;
    if (red < 0 || count != 1 || (bytes != 4 && bytes != 8) || in.ops.size() != 2)
      return err(in.loc, "sured expects .add/.min/.max/.and/.or on one 32/64-bit value: [a, b], c");
    word |=
        (std::uint32_t(red) << tex::kSurfRedShift) | (isSigned(dt) ? std::uint32_t(tex::kSurfRedSigned) : 0u);
    PTX_GET(v, get(in.ops[1], bits));
    B.CreateStore(v, slot);
    call("cuvirt.sured", B.getVoidTy(), {slot, handle, B.getInt32(word), c[0], c[1], c[2], c[3]});
    return Handled::Yes;
  }
  if (in.ops.size() != 2)
    return err(in.loc, "sust expects [a, b], c");
  auto src = elements(in.ops[1]);
  if (src.size() < count)
    return err(in.ops[1].loc, "sust: fewer source components than the vector size");
  for (unsigned i = 0; i < count; ++i) {
    PTX_GET(v, get(*src[i], bits));
    B.CreateStore(v, B.CreateConstInBoundsGEP1_32(B.getInt8Ty(), slot, i * bytes));
  }
  call("cuvirt.sust", B.getVoidTy(), {slot, handle, B.getInt32(word), c[0], c[1], c[2], c[3]});
  return Handled::Yes;
}

} // namespace cuvirt::ptx::lowering

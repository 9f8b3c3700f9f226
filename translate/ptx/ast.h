// The parsed PTX module: declarations kept close to the source, instructions
// as opcode + modifiers + operands. Checking happens where each part is used
// (module info, lowering), always against the SrcLoc kept here.
#pragma once
#include "translate/ptx/lexer.h"
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <variant>
#include <vector>

namespace cuvirt::ptx {

enum class Space : std::uint8_t { None, Reg, Sreg, Const, Global, Local, Param, Shared, Tex, Generic };

/// Scalar PTX types. Sizes in bytes; Pred is a 1-bit register type.
enum class Type : std::uint8_t {
  None,
  Pred,
  B8,
  B16,
  B32,
  B64,
  B128,
  U8,
  U16,
  U32,
  U64,
  S8,
  S16,
  S32,
  S64,
  F16,
  F16x2,
  BF16,
  BF16x2,
  TF32,
  F32,
  F64,
  E4M3x2,
  E5M2x2,
};

Type parseType(std::string_view dir); ///< ".u32" -> U32, Type::None if not a type
std::string_view typeName(Type t);
unsigned typeSize(Type t); ///< bytes (Pred: 1)
inline bool isFloat(Type t) {
  return t == Type::F16 || t == Type::BF16 || t == Type::F32 || t == Type::F64 || t == Type::TF32;
}
inline bool isSigned(Type t) { return t == Type::S8 || t == Type::S16 || t == Type::S32 || t == Type::S64; }
inline bool isUnsigned(Type t) { return t == Type::U8 || t == Type::U16 || t == Type::U32 || t == Type::U64; }
inline bool isBits(Type t) {
  return t == Type::B8 || t == Type::B16 || t == Type::B32 || t == Type::B64 || t == Type::B128;
}

/// A variable initialiser: a number, a symbol address, or a brace list.
struct Init {
  enum class Kind : std::uint8_t { Int, Float, Symbol, List } kind = Kind::Int;
  SrcLoc loc;
  std::uint64_t bits = 0;     ///< Int: value (two's complement); Float: raw bits
  bool floatIsDouble = false; ///< Float: 0d/decimal (double bits) vs 0f (float bits)
  bool isFnOrGeneric = false; ///< Symbol: written generic(sym)
  std::string symbol;
  std::int64_t addend = 0;
  std::uint64_t byteMask = 0; ///< Symbol inside 0xFF00(sym): byte selector, 0 = whole value
  std::vector<Init> elems;
};

struct VarDecl {
  SrcLoc loc;
  Space space = Space::None;
  Type type = Type::None;
  unsigned vec = 1;   ///< .v2/.v4/.v8
  unsigned align = 0; ///< .align N, 0 = natural
  std::string name;
  std::vector<std::uint64_t> dims; ///< array dimensions; 0 = unsized []
  bool isArray = false;
  unsigned rangeCount = 0; ///< .reg .b32 %r<N>: N registers %r0..%r(N-1)
  bool isExtern = false, isVisible = false, isWeak = false, isCommon = false;
  bool isManaged = false;
  std::optional<Init> init;
  [[nodiscard]] std::uint64_t elemSize() const { return std::uint64_t(typeSize(type)) * vec; }
  [[nodiscard]] std::uint64_t count() const; ///< element count (1 for scalars, 0 if unsized)
  [[nodiscard]] std::uint64_t size() const { return elemSize() * count(); }
  [[nodiscard]] unsigned alignment() const { return align ? align : unsigned(elemSize() ? elemSize() : 1); }
};

struct Operand {
  enum class Kind : std::uint8_t {
    Reg,   ///< %r1, %tid.x, or a variable/label/function name (resolved later)
    Int,   ///< integer immediate (value in `imm`)
    Float, ///< 0f/0d immediate (raw bits in `imm`, floatIsDouble)
    Addr,  ///< [base+offset] or [imm]
    Vec,   ///< {a, b, ...}
    List,  ///< ( a, b ) in call argument lists
    Sink,  ///< _
  } kind = Kind::Reg;
  SrcLoc loc;
  std::string name; ///< Reg / Addr base ("" for [imm])
  std::int64_t imm = 0;
  bool floatIsDouble = false;
  bool negated = false;   ///< !%p
  std::string pairedPred; ///< %r|%p: the second destination
  std::vector<Operand> elems;
};

struct Instr {
  SrcLoc loc;
  std::string guard; ///< @%p ("" = none)
  bool guardNegated = false;
  std::string opcode;            ///< "add"
  std::vector<std::string> mods; ///< {".s32", ...} in source order
  std::vector<Operand> ops;
  [[nodiscard]] bool has(std::string_view m) const {
    for (auto &x : mods)
      if (x == m)
        return true;
    return false;
  }
};

struct Label {
  SrcLoc loc;
  std::string name;
};
/// $L_brx_0: .branchtargets a, b;
struct BranchTargets {
  SrcLoc loc;
  std::string name;
  std::vector<std::string> targets;
};
/// proto: .callprototype (.param .b32 _) _ (.param .b64 _);
struct CallPrototype {
  SrcLoc loc;
  std::string name;
  std::vector<VarDecl> rets, params;
};
struct ScopeBegin {
  SrcLoc loc;
};
struct ScopeEnd {
  SrcLoc loc;
};
using Stmt = std::variant<Instr, Label, VarDecl, BranchTargets, CallPrototype, ScopeBegin, ScopeEnd>;

struct Function {
  SrcLoc loc;
  bool isEntry = false;
  bool isExtern = false, isVisible = false, isWeak = false, noReturn = false;
  bool hasBody = false;
  std::string name;
  std::vector<VarDecl> rets, params;
  unsigned maxntid[3] = {0, 0, 0}, reqntid[3] = {0, 0, 0};
  unsigned reqnctapercluster[3] = {0, 0, 0}; ///< .reqnctapercluster (__cluster_dims__)
  unsigned minnctapersm = 0, maxnreg = 0;
  std::vector<Stmt> body;
};

struct Module {
  unsigned versionMajor = 0, versionMinor = 0;
  std::vector<std::string> target; ///< sm_80, texmode_independent, debug ...
  unsigned addressSize = 64;
  std::vector<VarDecl> globals; ///< module-scope variables in order
  std::vector<Function> functions;
};

} // namespace cuvirt::ptx

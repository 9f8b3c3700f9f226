#include "translate/ptx/ast.h"
#include <array>
#include <utility>

namespace cuvirt::ptx {
namespace {
struct TypeRow {
  std::string_view name;
  Type type;
  unsigned size;
};
constexpr std::array<TypeRow, 23> kTypes{{
    {".pred", Type::Pred, 1},     {".b8", Type::B8, 1},         {".b16", Type::B16, 2},
    {".b32", Type::B32, 4},       {".b64", Type::B64, 8},       {".b128", Type::B128, 16},
    {".u8", Type::U8, 1},         {".u16", Type::U16, 2},       {".u32", Type::U32, 4},
    {".u64", Type::U64, 8},       {".s8", Type::S8, 1},         {".s16", Type::S16, 2},
    {".s32", Type::S32, 4},       {".s64", Type::S64, 8},       {".f16", Type::F16, 2},
    {".f16x2", Type::F16x2, 4},   {".bf16", Type::BF16, 2},     {".bf16x2", Type::BF16x2, 4},
    {".tf32", Type::TF32, 4},     {".f32", Type::F32, 4},       {".f64", Type::F64, 8},
    {".e4m3x2", Type::E4M3x2, 2}, {".e5m2x2", Type::E5M2x2, 2},
}};
} // namespace

Type parseType(std::string_view dir) {
  for (auto &r : kTypes)
    if (r.name == dir)
      return r.type;
  return Type::None;
}
std::string_view typeName(Type t) {
  for (auto &r : kTypes)
    if (r.type == t)
      return r.name;
  return "";
}
unsigned typeSize(Type t) {
  for (auto &r : kTypes)
    if (r.type == t)
      return r.size;
  return 0;
}

std::uint64_t VarDecl::count() const {
  std::uint64_t n = 1;
  for (auto d : dims) {
    if (d == 0)
      return 0;
    n *= d;
  }
  return n;
}

} // namespace cuvirt::ptx

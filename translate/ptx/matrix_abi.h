// The warp matrix collective `void @cuvirt.warp.matrix(i32 mask, i64 buf,
// i32 desc, i32 types)` (translate/KERNEL_IR.md): what the front end
// (lower_matrix.cpp) writes and a target's evaluator (the CPU's
// jit/warp_matrix.cpp) reads. Header-only: both sides include it.
//
// Every lane passes `buf`, the address of its own kBufBytes of private
// memory holding its fragment registers as 32-bit words (A at word kA, B at
// kB, C at kC; a 64-bit register takes two words, low first) and, for
// ldmatrix/stmatrix, its row address at byte kAddr. The target evaluates
// the warp's operation once every lane has arrived and writes each lane's
// results into its buffer (D over C; ldmatrix/movmatrix results at word 0).
#pragma once
#include <bit>
#include <cstdint>

namespace cuvirt::matrix {

enum Op : std::uint32_t {
  kMma = 1,       ///< mma.sync: the PTX ISA's documented fragment layouts
  kWmmaMma = 2,   ///< wmma.mma: cuvirt's wmma fragment layout (wmmaCoord)
  kLdmatrix = 3,  ///< ldmatrix.m8n8.b16 (.x1/.x2/.x4, .trans)
  kStmatrix = 4,  ///< stmatrix.m8n8.b16
  kMovmatrix = 5, ///< movmatrix.m8n8.trans.b16
};

/// Element types of the fragments.
enum Elem : std::uint32_t { kNone = 0, kF16, kBF16, kTF32, kF32, kF64, kS8, kU8, kS4, kU4, kS32 };

inline constexpr unsigned elemBits(std::uint32_t e) {
  switch (e) {
  case kF16:
  case kBF16:
    return 16;
  case kTF32:
  case kF32:
  case kS32:
    return 32;
  case kF64:
    return 64;
  case kS8:
  case kU8:
    return 8;
  case kS4:
  case kU4:
    return 4;
  default:
    return 0;
  }
}

constexpr unsigned kA = 0, kB = 16, kC = 32;     // word offsets in a lane's buffer
constexpr unsigned kAddr = 192, kBufBytes = 200; // byte offset of the row address; buffer size
constexpr unsigned kMaxWords = 16;               // per operand

/// desc: op | m << 4 | n << 10 | k << 16 (mma); op | count << 4 | trans << 8 (ldmatrix/stmatrix/movmatrix).
inline constexpr std::uint32_t mmaDesc(std::uint32_t op, unsigned m, unsigned n, unsigned k) {
  return op | m << 4 | n << 10 | k << 16;
}
inline constexpr std::uint32_t descOp(std::uint32_t d) { return d & 15; }
inline constexpr unsigned descM(std::uint32_t d) { return (d >> 4) & 63; }
inline constexpr unsigned descN(std::uint32_t d) { return (d >> 10) & 63; }
inline constexpr unsigned descK(std::uint32_t d) { return (d >> 16) & 255; }
inline constexpr std::uint32_t ldmDesc(std::uint32_t op, unsigned count, bool trans) {
  return op | count << 4 | (trans ? 1u : 0u) << 8;
}
inline constexpr unsigned descCount(std::uint32_t d) { return (d >> 4) & 15; }
inline constexpr bool descTrans(std::uint32_t d) { return (d >> 8) & 1; }

/// types: a | b << 4 | c << 8 | d << 12 | satfinite << 16.
inline constexpr std::uint32_t mmaTypes(std::uint32_t a, std::uint32_t b, std::uint32_t c, std::uint32_t d,
                                        bool satfinite) {
  return a | b << 4 | c << 8 | d << 12 | (satfinite ? 1u : 0u) << 16;
}

/// Elements one lane holds of a wmma fragment of `rows` x `cols` elements:
/// rows*cols/32, except f16 A and B fragments, which hold 16 (nvcc's
/// register counts; such fragments replicate elements).
inline constexpr unsigned wmmaElems(bool isAB, std::uint32_t type, unsigned rows, unsigned cols) {
  return isAB && type == kF16 ? 16 : rows * cols / 32;
}

/// cuvirt's wmma fragment layout (opaque to programs): element e of lane l
/// of a fragment with `perLane` elements is logical element
/// i = l * u + e % u of the row-major rows x cols tile, u = rows*cols/32
/// (e >= u: a replica of e % u).
struct Coord {
  unsigned row, col;
};
inline constexpr Coord wmmaCoord(unsigned rows, unsigned cols, unsigned lane, unsigned e) {
  unsigned u = rows * cols / 32, i = lane * u + e % u;
  return {i / cols, i % cols};
}

/// mma.sync fragment layouts (PTX ISA, "Matrix fragments for mma.m16n8kK"):
/// groupID = lane >> 2, threadID_in_group = lane % 4. Each 32-bit register
/// (64-bit for f64) holds `per` = 32/bits consecutive elements of a row of A
/// or a column of B; A's registers walk 8-row blocks first, then k blocks
/// of 4*per; B's registers walk k blocks; C/D element i is at row
/// groupID + 8*(i/2), column 2*threadID_in_group + i%2.
inline constexpr unsigned perReg(std::uint32_t type) {
  unsigned b = elemBits(type);
  return b >= 32 ? 1 : 32 / b;
}
inline constexpr Coord mmaCoordA(unsigned m, std::uint32_t type, unsigned lane, unsigned e) {
  // per and m/8 are powers of two: shifts (the CPU evaluator's inner loop)
  unsigned ps = unsigned(std::countr_zero(perReg(type))), r = e >> ps, j = e & ((1u << ps) - 1);
  unsigned rbs = m == 16 ? 1 : 0; // log2 of the 8-row blocks
  return {(r & ((1u << rbs) - 1)) * 8 + (lane >> 2), ((r >> rbs) * 4 + (lane & 3)) << ps | j};
}
inline constexpr Coord mmaCoordB(std::uint32_t type, unsigned lane, unsigned e) {
  unsigned ps = unsigned(std::countr_zero(perReg(type))), r = e >> ps, j = e & ((1u << ps) - 1);
  return {(r * 4 + (lane & 3)) << ps | j, lane >> 2};
}
inline constexpr Coord mmaCoordC(unsigned lane, unsigned e) {
  return {(lane >> 2) + 8 * (e / 2), (lane & 3) * 2 + e % 2};
}

// The formulas above, checked against the ISA's tables at compile time.
static_assert(mmaCoordA(16, kF16, 5, 5).row == 1 && mmaCoordA(16, kF16, 5, 5).col == 11);  // a5: g, 2t+1+8
static_assert(mmaCoordA(16, kF16, 5, 2).row == 9 && mmaCoordA(16, kF16, 5, 2).col == 2);   // a2: g+8, 2t
static_assert(mmaCoordA(16, kTF32, 6, 2).row == 1 && mmaCoordA(16, kTF32, 6, 2).col == 6); // a2: g, t+4
static_assert(mmaCoordA(16, kS8, 7, 9).row == 1 && mmaCoordA(16, kS8, 7, 9).col == 29);    // a9: g, 4t+1+16
static_assert(mmaCoordB(kF16, 6, 3).row == 13 && mmaCoordB(kF16, 6, 3).col == 1);          // b3: 2t+1+8, g
static_assert(mmaCoordA(8, kF64, 6, 0).row == 1 && mmaCoordA(8, kF64, 6, 0).col == 2);     // a0: g, t

} // namespace cuvirt::matrix

// The warp matrix collective (translate/ptx/matrix_abi.h): once every lane
// of a warp has stored its fragment registers in its buffer, the warp's
// operation is computed here once (D = A*B + C for mma/wmma.mma, the rows of
// ldmatrix/stmatrix, movmatrix's transpose) and each lane's results are
// written back to its buffer. Lanes not present contribute zeros and get
// nothing (CUDA requires every lane of the warp: .aligned).
//
// Numerics: f16/bf16/tf32 products accumulate in f32, fused, in k order, as
// tensor cores keep f32 internally (an f16 D is rounded once, to nearest
// even); tf32 inputs drop their 13 low mantissa bits, as the hardware
// ignores them (programs round with cvt.rna.tf32.f32 / __float_to_tf32
// first); f64 is fma in k order starting from C; integers sum exactly and
// wrap to s32 (.satfinite: clamp).
#include "translate/cpu/jit/block_runtime.h"
#include "translate/ptx/matrix_abi.h"
#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>

namespace cuvirt::cpu::jit {
namespace {

namespace mx = cuvirt::matrix;

// f16 -> f32 without branches (the evaluator's inner loop): the magnitude
// bits moved into f32 position and scaled by 2^112 (exact, denormals too);
// infinities and NaNs get the f32 exponent.
inline float halfToFloat(std::uint32_t h) {
  float mag = std::bit_cast<float>((h & 0x7fffu) << 13) * 0x1p112f;
  std::uint32_t b = std::bit_cast<std::uint32_t>(mag) | ((h & 0x7c00u) == 0x7c00u ? 0x7f800000u : 0u);
  return std::bit_cast<float>(b | (h & 0x8000u) << 16);
}

// f32 -> f16, round to nearest even (overflow to infinity, NaN kept quiet).
std::uint32_t floatToHalf(float f) {
  std::uint32_t x = std::bit_cast<std::uint32_t>(f), sign = (x >> 16) & 0x8000u;
  std::uint32_t ax = x & 0x7fffffffu;
  if (ax > 0x7f800000u)
    return sign | 0x7e00u;
  if (ax >= 0x477ff000u) // rounds to >= 65520: infinity
    return sign | 0x7c00u;
  if (ax < 0x38800000u) {                 // below the smallest normal half: denormal steps of 2^-24
    float m = std::fabs(f) * 16777216.0f; // exact scale; rint rounds to even
    return sign | std::uint32_t(std::nearbyint(m));
  }
  std::uint32_t r = ax + 0xfffu + ((ax >> 13) & 1u); // round to nearest even at bit 13
  return sign | ((r - 0x38000000u) >> 13);
}

std::uint8_t *bufOf(const CollSlot &s) { return reinterpret_cast<std::uint8_t *>(s.value); }

std::uint32_t wordAt(const std::uint8_t *buf, unsigned w) {
  std::uint32_t v;
  std::memcpy(&v, buf + 4 * w, 4);
  return v;
}

inline double floatValue(std::uint64_t raw, std::uint32_t type) {
  switch (type) {
  case mx::kF16:
    return halfToFloat(std::uint32_t(raw));
  case mx::kBF16:
    return std::bit_cast<float>(std::uint32_t(raw) << 16);
  case mx::kTF32:
    return std::bit_cast<float>(std::uint32_t(raw) & 0xffffe000u);
  case mx::kF32:
    return std::bit_cast<float>(std::uint32_t(raw));
  default:
    return std::bit_cast<double>(raw);
  }
}

inline std::int64_t intValue(std::uint64_t raw, std::uint32_t type) {
  switch (type) {
  case mx::kS8:
    return std::int8_t(raw);
  case mx::kS4:
    return std::int64_t(raw << 60) >> 60;
  case mx::kS32:
    return std::int32_t(raw);
  default:
    return std::int64_t(raw);
  }
}

struct Tile {
  unsigned m, n, k;
  bool wmma;
};

// Row-major index of element e of lane `lane` in operand 0 (A, m x k),
// 1 (B, k x n) or 2 (C/D, m x n). wmma: lane l's elements are the u
// consecutive ones from l*u (matrix_abi.h), replicas beyond u skipped by
// the callers. All shapes are powers of two: shifts, no divisions.
[[gnu::always_inline]] inline unsigned indexOf(const Tile &t, int operand, std::uint32_t type, unsigned lane,
                                               unsigned e) {
  if (t.wmma) {
    unsigned cells = operand == 0 ? t.m * t.k : operand == 1 ? t.k * t.n : t.m * t.n;
    unsigned u = cells / 32;
    return lane * u + (e & (u - 1));
  }
  mx::Coord c = operand == 0   ? mx::mmaCoordA(t.m, type, lane, e)
                : operand == 1 ? mx::mmaCoordB(type, lane, e)
                               : mx::mmaCoordC(lane, e);
  return c.row * (operand == 0 ? t.k : t.n) + c.col;
}

// Decodes one operand (element type Ty) of every present lane into dst
// (row-major): runs once per operand per mma, so the type is a constant.
template <std::uint32_t Ty, class T>
void gatherT(const Tile &t, int operand, unsigned first, std::uint32_t present, const CollSlot *wc, T *dst) {
  constexpr unsigned bits = mx::elemBits(Ty);
  unsigned cells = operand == 0 ? t.m * t.k : operand == 1 ? t.k * t.n : t.m * t.n, perLane = cells / 32;
  for (std::uint32_t m = present; m; m &= m - 1) {
    unsigned l = unsigned(std::countr_zero(m));
    const std::uint8_t *buf = bufOf(wc[l]) + 4 * first;
    // wmma: the lane's elements are consecutive in the tile
    T *out = t.wmma ? dst + std::size_t(l) * perLane : nullptr;
    for (unsigned e = 0; e < perLane; ++e) {
      std::uint64_t raw;
      if constexpr (bits == 64) {
        std::memcpy(&raw, buf + 8 * e, 8);
      } else {
        std::uint32_t w;
        std::memcpy(&w, buf + (e * bits / 32) * 4, 4);
        raw = bits == 32 ? w : (w >> (e * bits % 32)) & ((1u << bits) - 1);
      }
      T v;
      if constexpr (Ty == mx::kS32 || Ty == mx::kS8 || Ty == mx::kU8 || Ty == mx::kS4 || Ty == mx::kU4)
        v = T(intValue(raw, Ty));
      else
        v = T(floatValue(raw, Ty));
      if (out)
        out[e] = v;
      else
        dst[indexOf(t, operand, Ty, l, e)] = v;
    }
  }
}

template <class T>
void gather(const Tile &t, int operand, std::uint32_t type, unsigned first, std::uint32_t present,
            const CollSlot *wc, T *dst) {
  switch (type) {
  case mx::kF16:
    return gatherT<mx::kF16>(t, operand, first, present, wc, dst);
  case mx::kBF16:
    return gatherT<mx::kBF16>(t, operand, first, present, wc, dst);
  case mx::kTF32:
    return gatherT<mx::kTF32>(t, operand, first, present, wc, dst);
  case mx::kF32:
    return gatherT<mx::kF32>(t, operand, first, present, wc, dst);
  case mx::kF64:
    return gatherT<mx::kF64>(t, operand, first, present, wc, dst);
  case mx::kS8:
    return gatherT<mx::kS8>(t, operand, first, present, wc, dst);
  case mx::kU8:
    return gatherT<mx::kU8>(t, operand, first, present, wc, dst);
  case mx::kS4:
    return gatherT<mx::kS4>(t, operand, first, present, wc, dst);
  case mx::kU4:
    return gatherT<mx::kU4>(t, operand, first, present, wc, dst);
  case mx::kS32:
    return gatherT<mx::kS32>(t, operand, first, present, wc, dst);
  default:
    return;
  }
}

// acc (m x n) += A (m x k) * B (k x n), each element in k order. The
// inputs (f16, bf16, tf32 values) have at most 11 significant bits, so
// every product is exact in f32 and acc + a*b is the fused result. n is 8,
// 16 or 32: fixed-length inner loops, vectorised for the host's widest unit.
// (size_t indices: contiguous to the vectoriser, unsigned ones might wrap)
#define CUVIRT_GEMM_ROWS(N)                                                                                  \
  for (std::size_t r = 0; r < m; ++r) {                                                                      \
    float row[N], *out = acc + r * N;                                                                        \
    const float *a = A + r * k;                                                                              \
    for (std::size_t c = 0; c < N; ++c)                                                                      \
      row[c] = out[c];                                                                                       \
    for (std::size_t kk = 0; kk < k; ++kk) {                                                                 \
      const float *b = B + kk * N;                                                                           \
      for (std::size_t c = 0; c < N; ++c)                                                                    \
        row[c] += a[kk] * b[c];                                                                              \
    }                                                                                                        \
    for (std::size_t c = 0; c < N; ++c)                                                                      \
      out[c] = row[c];                                                                                       \
  }
__attribute__((target_clones("avx512f", "avx2", "default"))) void
gemmF32(const float *__restrict A, const float *__restrict B, float *__restrict acc, std::size_t m,
        unsigned n, std::size_t k) {
  if (n == 8) {
    CUVIRT_GEMM_ROWS(8)
  } else if (n == 16) {
    CUVIRT_GEMM_ROWS(16)
  } else {
    CUVIRT_GEMM_ROWS(32)
  }
}
#undef CUVIRT_GEMM_ROWS

// f64: fused multiply-adds in k order starting from C (the fma clone uses
// the instruction; the default one libm's exact fma).
__attribute__((target_clones("fma", "default"))) void gemmF64(const double *A, const double *B, double *acc,
                                                              unsigned m, unsigned n, unsigned k) {
  for (unsigned r = 0; r < m; ++r)
    for (unsigned kk = 0; kk < k; ++kk) {
      const double a = A[r * k + kk];
      for (unsigned c = 0; c < n; ++c)
        acc[r * n + c] = std::fma(a, B[kk * n + c], acc[r * n + c]);
    }
}

void mma(std::uint32_t desc, std::uint32_t types, std::uint32_t present, CollSlot *wc) {
  const Tile t{mx::descM(desc), mx::descN(desc), mx::descK(desc), mx::descOp(desc) == mx::kWmmaMma};
  const std::uint32_t ta = types & 15, tb = (types >> 4) & 15, tc = (types >> 8) & 15,
                      td = (types >> 12) & 15;
  const bool satfinite = (types >> 16) & 1;
  if (t.m * t.k > 512 || t.k * t.n > 512 || t.m * t.n > 256 || t.m * t.n < 32)
    return; // the front end checked the shapes
  std::uint64_t D[256];
  if (tc == mx::kS32) {
    std::int64_t A[512] = {}, B[512] = {}, acc[256] = {};
    gather(t, 0, ta, mx::kA, present, wc, A);
    gather(t, 1, tb, mx::kB, present, wc, B);
    gather(t, 2, tc, mx::kC, present, wc, acc);
    for (unsigned r = 0; r < t.m; ++r)
      for (unsigned k = 0; k < t.k; ++k)
        for (unsigned c = 0; c < t.n; ++c)
          acc[r * t.n + c] += A[r * t.k + k] * B[k * t.n + c];
    for (unsigned o = 0; o < t.m * t.n; ++o)
      D[o] = std::uint32_t(satfinite ? std::clamp<std::int64_t>(acc[o], INT32_MIN, INT32_MAX) : acc[o]);
  } else if (ta == mx::kF64) {
    double A[512] = {}, B[512] = {}, acc[256] = {};
    gather(t, 0, ta, mx::kA, present, wc, A);
    gather(t, 1, tb, mx::kB, present, wc, B);
    gather(t, 2, tc, mx::kC, present, wc, acc);
    gemmF64(A, B, acc, t.m, t.n, t.k);
    for (unsigned o = 0; o < t.m * t.n; ++o)
      D[o] = std::bit_cast<std::uint64_t>(acc[o]);
  } else {
    float A[512] = {}, B[512] = {}, acc[256] = {};
    gather(t, 0, ta, mx::kA, present, wc, A);
    gather(t, 1, tb, mx::kB, present, wc, B);
    gather(t, 2, tc, mx::kC, present, wc, acc);
    gemmF32(A, B, acc, t.m, t.n, t.k);
    for (unsigned o = 0; o < t.m * t.n; ++o)
      D[o] = td == mx::kF16 ? floatToHalf(acc[o]) : std::bit_cast<std::uint32_t>(acc[o]);
  }
  const unsigned bits = mx::elemBits(td), eC = t.m * t.n / 32;
  for (std::uint32_t m = present; m; m &= m - 1) {
    unsigned l = unsigned(std::countr_zero(m));
    std::uint32_t words[mx::kMaxWords] = {};
    for (unsigned e = 0; e < eC; ++e) {
      std::uint64_t v = D[indexOf(t, 2, td, l, e)];
      if (bits == 64) {
        words[2 * e] = std::uint32_t(v);
        words[2 * e + 1] = std::uint32_t(v >> 32);
      } else {
        words[e * bits / 32] |= std::uint32_t(v) << (e * bits % 32);
      }
    }
    std::memcpy(bufOf(wc[l]) + 4 * mx::kC, words, eC * bits / 8);
  }
}

// ldmatrix / stmatrix / movmatrix on 8x8 matrices of b16: lane l holds row
// l/4, columns 2*(l%4) and +1 of each (.trans: the transposed matrix's).
void rows8x8(std::uint32_t desc, std::uint32_t present, CollSlot *wc) {
  const std::uint32_t op = mx::descOp(desc);
  const unsigned count = op == mx::kMovmatrix ? 1 : std::min(4u, mx::descCount(desc));
  const bool trans = mx::descTrans(desc);
  for (unsigned i = 0; i < count; ++i) {
    std::uint16_t mat[8][8] = {};
    if (op == mx::kLdmatrix) {
      for (unsigned r = 0; r < 8; ++r) {
        unsigned src = i * 8 + r;
        if (!(present >> src & 1u))
          continue;
        std::uint64_t addr;
        std::memcpy(&addr, bufOf(wc[src]) + mx::kAddr, 8);
        std::memcpy(mat[r], reinterpret_cast<const void *>(addr), 16);
      }
    } else {
      for (std::uint32_t m = present; m; m &= m - 1) {
        unsigned l = unsigned(std::countr_zero(m));
        std::uint32_t w = wordAt(bufOf(wc[l]), i);
        mat[l / 4][2 * (l % 4)] = std::uint16_t(w);
        mat[l / 4][2 * (l % 4) + 1] = std::uint16_t(w >> 16);
      }
    }
    if (op == mx::kStmatrix) {
      // trans: lane l's pair is column l/4, rows 2*(l%4) and +1 of memory
      std::uint16_t out[8][8];
      for (unsigned r = 0; r < 8; ++r)
        for (unsigned c = 0; c < 8; ++c)
          out[r][c] = trans ? mat[c][r] : mat[r][c];
      for (unsigned r = 0; r < 8; ++r) {
        unsigned dst = i * 8 + r;
        if (!(present >> dst & 1u))
          continue;
        std::uint64_t addr;
        std::memcpy(&addr, bufOf(wc[dst]) + mx::kAddr, 8);
        std::memcpy(reinterpret_cast<void *>(addr), out[r], 16);
      }
      continue;
    }
    // ldmatrix (trans: from the transpose), movmatrix (always the transpose)
    for (std::uint32_t m = present; m; m &= m - 1) {
      unsigned l = unsigned(std::countr_zero(m)), r = l / 4, c = 2 * (l % 4);
      std::uint32_t lo = trans ? mat[c][r] : mat[r][c], hi = trans ? mat[c + 1][r] : mat[r][c + 1];
      std::uint32_t w = lo | hi << 16;
      std::memcpy(bufOf(wc[l]) + 4 * i, &w, 4);
    }
  }
}

} // namespace

void evalWarpMatrix(std::uint32_t present, CollSlot *wc) {
  // Every lane passes the same descriptor (the instruction's constants).
  if (!present)
    return;
  const CollSlot &s = wc[std::countr_zero(present)];
  switch (mx::descOp(s.b)) {
  case mx::kMma:
  case mx::kWmmaMma:
    mma(s.b, s.c, present, wc);
    return;
  case mx::kLdmatrix:
  case mx::kStmatrix:
  case mx::kMovmatrix:
    rows8x8(s.b, present, wc);
    return;
  default:
    return;
  }
}

} // namespace cuvirt::cpu::jit

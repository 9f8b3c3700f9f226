#pragma once
// Shared plumbing for the PTX golden tests: load a PTX string, launch it,
// copy results back, compare against host-computed expectations.
#include <bit>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <cuda.h>
#include <doctest.h>
#include <ios>
#include <string>
#include <vector>

namespace ptxg {

/// Makes the primary context of device 0 current (retained once per process).
void useContext();

/// A loaded module; status and the JIT error log are kept for the error tests.
struct Module {
  CUmodule mod = nullptr;
  CUresult status = CUDA_ERROR_UNKNOWN;
  std::string log;
  explicit Module(const std::string &ptx);
  ~Module();
  Module(const Module &) = delete;
  Module &operator=(const Module &) = delete;
  CUfunction fn(const char *name = "k") const;
};

/// Device buffer freed on scope exit.
struct DevBuf {
  CUdeviceptr p = 0;
  size_t bytes = 0;
  explicit DevBuf(size_t n);
  ~DevBuf();
  DevBuf(const DevBuf &) = delete;
  DevBuf &operator=(const DevBuf &) = delete;
  template <class T> void put(const std::vector<T> &v) {
    REQUIRE(v.size() * sizeof(T) <= bytes);
    REQUIRE(cuMemcpyHtoD(p, v.data(), v.size() * sizeof(T)) == CUDA_SUCCESS);
  }
  template <class T> std::vector<T> get(size_t n) const {
    std::vector<T> v(n);
    REQUIRE(cuMemcpyDtoH(v.data(), p, n * sizeof(T)) == CUDA_SUCCESS);
    return v;
  }
};

struct Dims {
  unsigned gx = 1, gy = 1, gz = 1, bx = 1, by = 1, bz = 1, shared = 0;
};

/// Launches fn with one .u64 pointer parameter per buffer and synchronizes.
CUresult launch(CUfunction fn, const Dims &d, const std::vector<CUdeviceptr> &ptrs);

/// PTX header used by every kernel.
inline constexpr const char *kHeader = ".version 8.0\n.target sm_90\n.address_size 64\n";

/// Bytes of a PTX scalar type such as ".u32" or ".f16".
size_t typeSize(const std::string &ty);

/// An elementwise kernel k(a, b, c, d): thread i loads a[i], b[i], c[i] (type
/// inTy) into %a %b %c, runs body, stores %d (type outTy) to d[i]. Scratch
/// registers: %r<16> .b32, %rl<16> .b64, %f<16> .f32, %fd<16> .f64,
/// %h<8> .b16, %p<8> .pred.
std::string elementwise(const std::string &inTy, const std::string &outTy, const std::string &body);

/// Runs an elementwise kernel over the inputs (b and c default to zeros).
template <class Out, class In>
std::vector<Out> runElementwise(const std::string &inTy, const std::string &outTy, const std::string &body,
                                const std::vector<In> &a, std::vector<In> b = {}, std::vector<In> c = {}) {
  useContext();
  const size_t n = a.size();
  REQUIRE(typeSize(inTy) == sizeof(In));
  REQUIRE(typeSize(outTy) == sizeof(Out));
  if (b.empty())
    b.assign(n, In{});
  if (c.empty())
    c.assign(n, In{});
  REQUIRE(b.size() == n);
  REQUIRE(c.size() == n);
  Module m(elementwise(inTy, outTy, body));
  REQUIRE_MESSAGE(m.status == CUDA_SUCCESS, m.log);
  Dims d;
  d.gx = unsigned((n + 127) / 128);
  d.bx = 128;
  // Threads past n read and write padding: size buffers for the whole grid.
  const size_t slots = d.gx * 128;
  DevBuf pa(slots * sizeof(In)), pb(slots * sizeof(In)), pc(slots * sizeof(In)), dout(slots * sizeof(Out));
  pa.put(a);
  pb.put(b);
  pc.put(c);
  REQUIRE(launch(m.fn(), d, {pa.p, pb.p, pc.p, dout.p}) == CUDA_SUCCESS);
  return dout.get<Out>(n);
}

inline uint32_t bits(float f) { return std::bit_cast<uint32_t>(f); }
inline uint64_t bits(double f) { return std::bit_cast<uint64_t>(f); }
inline float f32(uint32_t u) { return std::bit_cast<float>(u); }
inline double f64(uint64_t u) { return std::bit_cast<double>(u); }

/// "0x..." for diagnostics (doctest's INFO ignores std::hex).
inline std::string hex(uint64_t v) {
  char buf[24];
  std::snprintf(buf, sizeof buf, "0x%llx", static_cast<unsigned long long>(v));
  return buf;
}

/// Exact IEEE equality, treating any NaN as equal to any NaN and -0 != +0.
inline bool same(float a, float b) { return (std::isnan(a) && std::isnan(b)) || bits(a) == bits(b); }
inline bool same(double a, double b) { return (std::isnan(a) && std::isnan(b)) || bits(a) == bits(b); }

/// Host rounding-mode scope for computing directed-rounding references.
struct Rounding {
  int old;
  explicit Rounding(int mode);
  ~Rounding();
};

/// Edge-value sets.
std::vector<float> edgeF32();
std::vector<double> edgeF64();
std::vector<uint32_t> edgeU32();
std::vector<uint64_t> edgeU64();

/// All (x, y) pairs of a set, as two parallel vectors.
template <class T> void pairs(const std::vector<T> &set, std::vector<T> &a, std::vector<T> &b) {
  a.clear();
  b.clear();
  for (T x : set)
    for (T y : set) {
      a.push_back(x);
      b.push_back(y);
    }
}

/// Deterministic pseudo-random values (xorshift), for bulk inputs.
struct Rng {
  uint64_t s = 0x9e3779b97f4a7c15ull;
  uint64_t next() {
    s ^= s << 13;
    s ^= s >> 7;
    s ^= s << 17;
    return s;
  }
};

} // namespace ptxg

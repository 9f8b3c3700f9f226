// Inline-PTX tensor-core instructions with the fragment layouts the PTX ISA
// documents ("Matrix fragments for mma.m16n8k16" etc.), checked exactly on
// the host: mma.sync m16n8k16 / m16n8k8 (f16 -> f32 and f16 -> f16), bf16,
// tf32, s8 and u8, f64 m8n8k4; ldmatrix .x1/.x2/.x4 with and without .trans;
// movmatrix; and a small GEMM the way CUTLASS-style kernels feed mma.sync
// (A by ldmatrix.x4, B by ldmatrix.x2.trans from shared memory). Each kernel
// runs two warps on independent problems. Built -arch=sm_80.
#include "check.h"
#include <cstdint>
#include <cstring>
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <vector>

// ---- fragments built from memory with the ISA's per-lane formulas ----------
// g = groupID = lane >> 2, t = threadID_in_group = lane % 4.

__device__ unsigned pack16(unsigned short lo, unsigned short hi) { return unsigned(lo) | unsigned(hi) << 16; }

// m16n8k16, .f16/.bf16 inputs (b16 bits), A 16x16 and B 16x8 row-major, C/D 16x8.
template <bool HalfAcc, bool Bf16>
__global__ void mma_k16(const unsigned short *A, const unsigned short *B, const float *C, float *D) {
  int w = threadIdx.x / 32, lane = threadIdx.x % 32, g = lane >> 2, t = lane & 3;
  A += w * 256, B += w * 128, C += w * 128, D += w * 128;
  unsigned a[4], b[2];
  for (int i = 0; i < 8; i += 2) {
    int row = (i < 2 || (i >= 4 && i < 6)) ? g : g + 8;
    int col = t * 2 + (i >= 4 ? 8 : 0);
    a[i / 2] = pack16(A[row * 16 + col], A[row * 16 + col + 1]);
  }
  for (int i = 0; i < 4; i += 2) {
    int row = t * 2 + (i >= 2 ? 8 : 0);
    b[i / 2] = pack16(B[row * 8 + g], B[(row + 1) * 8 + g]);
  }
  float c[4], d[4];
  for (int i = 0; i < 4; ++i)
    c[i] = C[(g + (i >= 2 ? 8 : 0)) * 8 + t * 2 + (i & 1)];
  if (HalfAcc) {
    unsigned hc[2], hd[2];
    for (int i = 0; i < 2; ++i)
      hc[i] = pack16(__half_as_ushort(__float2half(c[2 * i])), __half_as_ushort(__float2half(c[2 * i + 1])));
    asm volatile("mma.sync.aligned.m16n8k16.row.col.f16.f16.f16.f16 {%0,%1}, {%2,%3,%4,%5}, {%6,%7}, {%8,%9};"
                 : "=r"(hd[0]), "=r"(hd[1])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]), "r"(hc[0]), "r"(hc[1]));
    for (int i = 0; i < 4; ++i)
      d[i] = __half2float(__ushort_as_half((unsigned short)(hd[i / 2] >> (16 * (i & 1)))));
  } else if (Bf16) {
    asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
                 "{%10,%11,%12,%13};"
                 : "=f"(d[0]), "=f"(d[1]), "=f"(d[2]), "=f"(d[3])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]), "f"(c[0]), "f"(c[1]),
                   "f"(c[2]), "f"(c[3]));
  } else {
    asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
                 "{%10,%11,%12,%13};"
                 : "=f"(d[0]), "=f"(d[1]), "=f"(d[2]), "=f"(d[3])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]), "f"(c[0]), "f"(c[1]),
                   "f"(c[2]), "f"(c[3]));
  }
  for (int i = 0; i < 4; ++i)
    D[(g + (i >= 2 ? 8 : 0)) * 8 + t * 2 + (i & 1)] = d[i];
}

// m16n8k8 .f16: A 16x8, B 8x8.
__global__ void mma_k8_f16(const unsigned short *A, const unsigned short *B, const float *C, float *D) {
  int w = threadIdx.x / 32, lane = threadIdx.x % 32, g = lane >> 2, t = lane & 3;
  A += w * 128, B += w * 64, C += w * 128, D += w * 128;
  unsigned a[2], b;
  for (int i = 0; i < 4; i += 2) {
    int row = i < 2 ? g : g + 8, col = t * 2;
    a[i / 2] = pack16(A[row * 8 + col], A[row * 8 + col + 1]);
  }
  b = pack16(B[(t * 2) * 8 + g], B[(t * 2 + 1) * 8 + g]);
  float c[4], d[4];
  for (int i = 0; i < 4; ++i)
    c[i] = C[(g + (i >= 2 ? 8 : 0)) * 8 + t * 2 + (i & 1)];
  asm volatile(
      "mma.sync.aligned.m16n8k8.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5}, {%6}, {%7,%8,%9,%10};"
      : "=f"(d[0]), "=f"(d[1]), "=f"(d[2]), "=f"(d[3])
      : "r"(a[0]), "r"(a[1]), "r"(b), "f"(c[0]), "f"(c[1]), "f"(c[2]), "f"(c[3]));
  for (int i = 0; i < 4; ++i)
    D[(g + (i >= 2 ? 8 : 0)) * 8 + t * 2 + (i & 1)] = d[i];
}

// m16n8k8 .tf32: a0..a3 at (g, t), (g+8, t), (g, t+4), (g+8, t+4); b0, b1 at (t, g), (t+4, g).
__global__ void mma_k8_tf32(const float *A, const float *B, const float *C, float *D) {
  int w = threadIdx.x / 32, lane = threadIdx.x % 32, g = lane >> 2, t = lane & 3;
  A += w * 128, B += w * 64, C += w * 128, D += w * 128;
  unsigned a[4], b[2];
  for (int i = 0; i < 4; ++i)
    a[i] = __float_as_uint(A[(g + 8 * (i % 2)) * 8 + t + 4 * (i / 2)]);
  for (int i = 0; i < 2; ++i)
    b[i] = __float_as_uint(B[(t + 4 * i) * 8 + g]);
  float c[4], d[4];
  for (int i = 0; i < 4; ++i)
    c[i] = C[(g + (i >= 2 ? 8 : 0)) * 8 + t * 2 + (i & 1)];
  asm volatile("mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
               "{%10,%11,%12,%13};"
               : "=f"(d[0]), "=f"(d[1]), "=f"(d[2]), "=f"(d[3])
               : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]), "f"(c[0]), "f"(c[1]),
                 "f"(c[2]), "f"(c[3]));
  for (int i = 0; i < 4; ++i)
    D[(g + (i >= 2 ? 8 : 0)) * 8 + t * 2 + (i & 1)] = d[i];
}

// m16n8k32 .s8 / .u8: a_i at row g + 8*((i/4)%2), col 4t + (i%4) + 16*(i/8); b_i at row 4t + (i%4) +
// 16*(i/4), col g.
template <bool Unsigned>
__global__ void mma_k32_i8(const signed char *A, const signed char *B, const int *C, int *D) {
  int w = threadIdx.x / 32, lane = threadIdx.x % 32, g = lane >> 2, t = lane & 3;
  A += w * 512, B += w * 256, C += w * 128, D += w * 128;
  unsigned a[4] = {}, b[2] = {};
  for (int i = 0; i < 16; ++i)
    a[i / 4] |= unsigned((unsigned char)A[(g + 8 * ((i / 4) % 2)) * 32 + 4 * t + (i % 4) + 16 * (i / 8)])
                << (8 * (i % 4));
  for (int i = 0; i < 8; ++i)
    b[i / 4] |= unsigned((unsigned char)B[(4 * t + (i % 4) + 16 * (i / 4)) * 8 + g]) << (8 * (i % 4));
  int c[4], d[4];
  for (int i = 0; i < 4; ++i)
    c[i] = C[(g + (i >= 2 ? 8 : 0)) * 8 + t * 2 + (i & 1)];
  if (Unsigned)
    asm volatile("mma.sync.aligned.m16n8k32.row.col.s32.u8.u8.s32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
                 "{%10,%11,%12,%13};"
                 : "=r"(d[0]), "=r"(d[1]), "=r"(d[2]), "=r"(d[3])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]), "r"(c[0]), "r"(c[1]),
                   "r"(c[2]), "r"(c[3]));
  else
    asm volatile("mma.sync.aligned.m16n8k32.row.col.satfinite.s32.s8.s8.s32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, "
                 "{%8,%9}, {%10,%11,%12,%13};"
                 : "=r"(d[0]), "=r"(d[1]), "=r"(d[2]), "=r"(d[3])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]), "r"(c[0]), "r"(c[1]),
                   "r"(c[2]), "r"(c[3]));
  for (int i = 0; i < 4; ++i)
    D[(g + (i >= 2 ? 8 : 0)) * 8 + t * 2 + (i & 1)] = d[i];
}

// m8n8k4 .f64: a at (g, t), b at (t, g), c/d_i at (g, 2t + i).
__global__ void mma_f64(const double *A, const double *B, const double *C, double *D) {
  int w = threadIdx.x / 32, lane = threadIdx.x % 32, g = lane >> 2, t = lane & 3;
  A += w * 32, B += w * 32, C += w * 64, D += w * 64;
  double a = A[g * 4 + t], b = B[t * 8 + g], c0 = C[g * 8 + 2 * t], c1 = C[g * 8 + 2 * t + 1], d0, d1;
  asm volatile("mma.sync.aligned.m8n8k4.row.col.f64.f64.f64.f64 {%0,%1}, {%2}, {%3}, {%4,%5};"
               : "=d"(d0), "=d"(d1)
               : "d"(a), "d"(b), "d"(c0), "d"(c1));
  D[g * 8 + 2 * t] = d0;
  D[g * 8 + 2 * t + 1] = d1;
}

// ---- ldmatrix and movmatrix ----------------------------------------------------
// 32 rows of 8 b16 in shared memory; lane l passes the address of row
// perm(l) = (5l + 3) % 32, so matrix i's row r is shared row perm(8i + r).
// out[mode][lane][4]: the registers of each mode (x1, x2, x4, then .trans).
__device__ __host__ inline int perm(int l) { return (5 * l + 3) % 32; }

__global__ void ldmatrix_modes(const unsigned short *in, unsigned *out, unsigned *mov) {
  __shared__ __align__(16) unsigned short s[2][32 * 8];
  int w = threadIdx.x / 32, lane = threadIdx.x % 32;
  for (int i = lane; i < 256; i += 32)
    s[w][i] = in[w * 256 + i];
  __syncwarp();
  unsigned addr = unsigned(__cvta_generic_to_shared(&s[w][perm(lane) * 8]));
  unsigned r[6][4] = {};
  asm volatile("ldmatrix.sync.aligned.m8n8.x1.shared.b16 {%0}, [%1];" : "=r"(r[0][0]) : "r"(addr));
  asm volatile("ldmatrix.sync.aligned.m8n8.x2.shared.b16 {%0,%1}, [%2];"
               : "=r"(r[1][0]), "=r"(r[1][1])
               : "r"(addr));
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];"
               : "=r"(r[2][0]), "=r"(r[2][1]), "=r"(r[2][2]), "=r"(r[2][3])
               : "r"(addr));
  asm volatile("ldmatrix.sync.aligned.m8n8.x1.trans.shared.b16 {%0}, [%1];" : "=r"(r[3][0]) : "r"(addr));
  asm volatile("ldmatrix.sync.aligned.m8n8.x2.trans.shared.b16 {%0,%1}, [%2];"
               : "=r"(r[4][0]), "=r"(r[4][1])
               : "r"(addr));
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];"
               : "=r"(r[5][0]), "=r"(r[5][1]), "=r"(r[5][2]), "=r"(r[5][3])
               : "r"(addr));
  for (int m = 0; m < 6; ++m)
    for (int i = 0; i < 4; ++i)
      out[((w * 6 + m) * 32 + lane) * 4 + i] = r[m][i];
  // movmatrix: transposes the 8x8 matrix held as ldmatrix.x1 leaves it.
  unsigned t;
  asm volatile("movmatrix.sync.aligned.m8n8.trans.b16 %0, %1;" : "=r"(t) : "r"(r[0][0]));
  mov[w * 32 + lane] = t;
}

// ---- a CUTLASS-style warp GEMM: D(16x8) = A(16x64) B(64x8) + C ----------------
__global__ void ldmatrix_gemm(const __half *A, const __half *B, const float *C, float *D) {
  constexpr int K = 64, SA = K + 8; // padded row: 144 bytes, rows stay 16-byte aligned
  __shared__ __align__(16) __half sa[2][16 * SA];
  __shared__ __align__(16) __half sb[2][K * 8];
  int w = threadIdx.x / 32, lane = threadIdx.x % 32, g = lane >> 2, t = lane & 3;
  A += w * 16 * K, B += w * K * 8, C += w * 128, D += w * 128;
  for (int i = lane; i < 16 * K; i += 32)
    sa[w][(i / K) * SA + i % K] = A[i];
  for (int i = lane; i < K * 8; i += 32)
    sb[w][i] = B[i];
  __syncwarp();
  float d[4];
  for (int i = 0; i < 4; ++i)
    d[i] = C[(g + (i >= 2 ? 8 : 0)) * 8 + t * 2 + (i & 1)];
  for (int kk = 0; kk < K; kk += 16) {
    unsigned a[4], b[2];
    unsigned pa = unsigned(__cvta_generic_to_shared(&sa[w][(lane % 16) * SA + kk + (lane / 16) * 8]));
    unsigned pb = unsigned(__cvta_generic_to_shared(&sb[w][(kk + lane % 16) * 8]));
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];"
                 : "=r"(a[0]), "=r"(a[1]), "=r"(a[2]), "=r"(a[3])
                 : "r"(pa));
    asm volatile("ldmatrix.sync.aligned.m8n8.x2.trans.shared.b16 {%0,%1}, [%2];"
                 : "=r"(b[0]), "=r"(b[1])
                 : "r"(pb));
    asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
                 "{%0,%1,%2,%3};"
                 : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
  }
  for (int i = 0; i < 4; ++i)
    D[(g + (i >= 2 ? 8 : 0)) * 8 + t * 2 + (i & 1)] = d[i];
}

// ---- host ------------------------------------------------------------------------
static std::uint64_t rngState = 0x2545f4914f6cdd1dull;
static int rnd(int lo, int hi) {
  rngState ^= rngState << 13;
  rngState ^= rngState >> 7;
  rngState ^= rngState << 17;
  return lo + int(rngState % std::uint64_t(hi - lo + 1));
}

template <class T> T *toDevice(const std::vector<T> &v) {
  T *p;
  CHECK(cudaMalloc(&p, v.size() * sizeof(T)));
  CHECK(cudaMemcpy(p, v.data(), v.size() * sizeof(T), cudaMemcpyHostToDevice));
  return p;
}
template <class T> std::vector<T> fromDevice(const T *p, size_t n) {
  std::vector<T> v(n);
  CHECK(cudaMemcpy(v.data(), p, n * sizeof(T), cudaMemcpyDeviceToHost));
  return v;
}

// Two problems (one per warp) of D(MxN) = A(MxK) B(KxN) + C; A, B, C as doubles.
template <class Out>
void checkGemm(const char *name, int M, int N, int K, const std::vector<double> &A,
               const std::vector<double> &B, const std::vector<double> &C, const std::vector<Out> &D) {
  int bad = 0;
  for (int w = 0; w < 2; ++w)
    for (int m = 0; m < M; ++m)
      for (int n = 0; n < N; ++n) {
        double want = C[w * M * N + m * N + n];
        for (int k = 0; k < K; ++k)
          want += A[w * M * K + m * K + k] * B[w * K * N + k * N + n];
        double got = double(D[w * M * N + m * N + n]);
        if (got != want && bad++ < 4)
          EXPECT(got == want, "%s: warp %d D[%d][%d] = %.9g, want %.9g", name, w, m, n, got, want);
      }
  printf("%-40s %s\n", name, bad ? "FAILED" : "ok");
}

template <bool HalfAcc, bool Bf16> void runK16(const char *name) {
  std::vector<double> A(512), B(256), C(256);
  std::vector<unsigned short> a(512), b(256);
  std::vector<float> c(256);
  for (int i = 0; i < 512; ++i) {
    A[i] = rnd(-4, 4) * 0.5;
    __half h = __float2half(float(A[i]));
    __nv_bfloat16 bh = __float2bfloat16(float(A[i]));
    std::memcpy(&a[i], Bf16 ? (void *)&bh : (void *)&h, 2);
  }
  for (int i = 0; i < 256; ++i) {
    B[i] = rnd(-4, 4);
    __half h = __float2half(float(B[i]));
    __nv_bfloat16 bh = __float2bfloat16(float(B[i]));
    std::memcpy(&b[i], Bf16 ? (void *)&bh : (void *)&h, 2);
    C[i] = c[i] = float(rnd(-16, 16));
  }
  auto da = toDevice(a), db = toDevice(b);
  auto dc = toDevice(c);
  float *dd;
  CHECK(cudaMalloc(&dd, 256 * sizeof(float)));
  mma_k16<HalfAcc, Bf16><<<1, 64>>>(da, db, dc, dd);
  CHECK_LAUNCH();
  checkGemm(name, 16, 8, 16, A, B, C, fromDevice(dd, 256));
}

void runK8F16() {
  std::vector<double> A(256), B(128), C(256);
  std::vector<unsigned short> a(256), b(128);
  std::vector<float> c(256);
  for (int i = 0; i < 256; ++i) {
    A[i] = rnd(-6, 6);
    __half h = __float2half(float(A[i]));
    std::memcpy(&a[i], &h, 2);
    C[i] = c[i] = float(rnd(-9, 9)) * 0.25f;
  }
  for (int i = 0; i < 128; ++i) {
    B[i] = rnd(-6, 6) * 0.125;
    __half h = __float2half(float(B[i]));
    std::memcpy(&b[i], &h, 2);
  }
  auto da = toDevice(a), db = toDevice(b);
  auto dc = toDevice(c);
  float *dd;
  CHECK(cudaMalloc(&dd, 256 * sizeof(float)));
  mma_k8_f16<<<1, 64>>>(da, db, dc, dd);
  CHECK_LAUNCH();
  checkGemm("mma m16n8k8 f32.f16.f16.f32", 16, 8, 8, A, B, C, fromDevice(dd, 256));
}

void runTf32() {
  std::vector<double> A(256), B(128), C(256);
  std::vector<float> a(256), b(128), c(256);
  for (int i = 0; i < 256; ++i) {
    A[i] = rnd(-100, 100) * 0.25;
    a[i] = float(A[i]);
    // Bits below tf32's 10-bit mantissa are ignored by the tensor core.
    if (i % 3 == 0)
      a[i] = float(A[i]) + (A[i] == 0 ? 0.0f : float(A[i]) * 0x1p-13f);
    C[i] = c[i] = float(rnd(-50, 50));
  }
  for (int i = 0; i < 128; ++i)
    B[i] = b[i] = float(rnd(-8, 8));
  auto da = toDevice(a), db = toDevice(b), dc = toDevice(c);
  float *dd;
  CHECK(cudaMalloc(&dd, 256 * sizeof(float)));
  mma_k8_tf32<<<1, 64>>>(da, db, dc, dd);
  CHECK_LAUNCH();
  checkGemm("mma m16n8k8 f32.tf32.tf32.f32", 16, 8, 8, A, B, C, fromDevice(dd, 256));
}

template <bool Unsigned> void runI8(const char *name) {
  std::vector<double> A(1024), B(512), C(256);
  std::vector<signed char> a(1024), b(512);
  std::vector<int> c(256);
  for (int i = 0; i < 1024; ++i) {
    int v = Unsigned ? rnd(0, 255) : rnd(-128, 127);
    a[i] = (signed char)v;
    A[i] = v;
  }
  for (int i = 0; i < 512; ++i) {
    int v = Unsigned ? rnd(0, 255) : rnd(-128, 127);
    b[i] = (signed char)v;
    B[i] = v;
  }
  for (int i = 0; i < 256; ++i)
    C[i] = c[i] = rnd(-100000, 100000);
  auto da = toDevice(a), db = toDevice(b);
  auto dc = toDevice(c);
  int *dd;
  CHECK(cudaMalloc(&dd, 256 * sizeof(int)));
  mma_k32_i8<Unsigned><<<1, 64>>>(da, db, dc, dd);
  CHECK_LAUNCH();
  checkGemm(name, 16, 8, 32, A, B, C, fromDevice(dd, 256));
}

void runF64() {
  std::vector<double> A(64), B(64), C(128);
  for (auto &x : A)
    x = rnd(-1000, 1000) / 64.0;
  for (auto &x : B)
    x = rnd(-1000, 1000) / 32.0;
  for (auto &x : C)
    x = rnd(-1000, 1000);
  auto da = toDevice(A), db = toDevice(B), dc = toDevice(C);
  double *dd;
  CHECK(cudaMalloc(&dd, 128 * sizeof(double)));
  mma_f64<<<1, 64>>>(da, db, dc, dd);
  CHECK_LAUNCH();
  checkGemm("mma m8n8k4 f64", 8, 8, 4, A, B, C, fromDevice(dd, 128));
}

void runLdmatrix() {
  std::vector<unsigned short> in(512);
  for (int i = 0; i < 512; ++i)
    in[i] = (unsigned short)(i * 7 + 1);
  auto din = toDevice(in);
  unsigned *dout, *dmov;
  CHECK(cudaMalloc(&dout, 2 * 6 * 32 * 4 * sizeof(unsigned)));
  CHECK(cudaMalloc(&dmov, 64 * sizeof(unsigned)));
  ldmatrix_modes<<<1, 64>>>(din, dout, dmov);
  CHECK_LAUNCH();
  auto out = fromDevice(dout, 2 * 6 * 32 * 4);
  auto mov = fromDevice(dmov, 64);
  int bad = 0;
  for (int w = 0; w < 2; ++w) {
    // element (r, c) of matrix i: shared row perm(8i + r), column c
    auto elem = [&](int i, int r, int c) { return unsigned(in[w * 256 + perm(8 * i + r) * 8 + c]); };
    const int counts[3] = {1, 2, 4};
    for (int m = 0; m < 6; ++m)
      for (int lane = 0; lane < 32; ++lane)
        for (int i = 0; i < counts[m % 3]; ++i) {
          int r = lane / 4, c = 2 * (lane % 4);
          unsigned want =
              m < 3 ? elem(i, r, c) | elem(i, r, c + 1) << 16 : elem(i, c, r) | elem(i, c + 1, r) << 16;
          unsigned got = out[((w * 6 + m) * 32 + lane) * 4 + i];
          if (got != want && bad++ < 4)
            EXPECT(got == want, "ldmatrix mode %d warp %d lane %d reg %d: %#x, want %#x", m, w, lane, i, got,
                   want);
        }
    for (int lane = 0; lane < 32; ++lane) {
      int r = lane / 4, c = 2 * (lane % 4);
      unsigned want = elem(0, c, r) | elem(0, c + 1, r) << 16;
      if (mov[w * 32 + lane] != want && bad++ < 4)
        EXPECT(mov[w * 32 + lane] == want, "movmatrix warp %d lane %d: %#x, want %#x", w, lane,
               mov[w * 32 + lane], want);
    }
  }
  printf("%-40s %s\n", "ldmatrix x1/x2/x4 (.trans), movmatrix", bad ? "FAILED" : "ok");
}

void runLdmatrixGemm() {
  const int K = 64;
  std::vector<double> A(2 * 16 * K), B(2 * K * 8), C(256);
  std::vector<__half> a(A.size()), b(B.size());
  std::vector<float> c(256);
  for (size_t i = 0; i < A.size(); ++i)
    a[i] = __float2half(float(A[i] = rnd(-3, 3)));
  for (size_t i = 0; i < B.size(); ++i)
    b[i] = __float2half(float(B[i] = rnd(-3, 3) * 0.5));
  for (int i = 0; i < 256; ++i)
    C[i] = c[i] = float(rnd(-20, 20));
  auto da = toDevice(a), db = toDevice(b);
  auto dc = toDevice(c);
  float *dd;
  CHECK(cudaMalloc(&dd, 256 * sizeof(float)));
  ldmatrix_gemm<<<1, 64>>>(da, db, dc, dd);
  CHECK_LAUNCH();
  checkGemm("ldmatrix.x4 + ldmatrix.x2.trans + mma", 16, 8, K, A, B, C, fromDevice(dd, 256));
}

int main() {
  runK16<false, false>("mma m16n8k16 f32.f16.f16.f32");
  runK16<true, false>("mma m16n8k16 f16.f16.f16.f16");
  runK16<false, true>("mma m16n8k16 f32.bf16.bf16.f32");
  runK8F16();
  runTf32();
  runI8<false>("mma m16n8k32 s32.s8.s8.s32.satfinite");
  runI8<true>("mma m16n8k32 s32.u8.u8.s32");
  runF64();
  runLdmatrix();
  runLdmatrixGemm();
  PASSED("mma_sync");
  return 0;
}

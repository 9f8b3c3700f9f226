// Tensor-core instructions: mma.sync and ldmatrix/stmatrix in the fragment
// layouts the PTX ISA documents (the references below spell out its
// formulas), wmma end to end (its layout is cuvirt's choice), and the clear
// errors for what stays unsupported.
#include "harness.h"
#include <unistd.h>

using namespace ptxg;

namespace {

// Exact f16 bits of a float that f16 represents exactly (normal or zero).
uint16_t halfBits(float f) {
  uint32_t x = bits(f);
  uint32_t sign = (x >> 16) & 0x8000u, ax = x & 0x7fffffffu;
  if (!ax)
    return uint16_t(sign);
  return uint16_t(sign | (((ax >> 23) - 112) << 10) | ((ax >> 13) & 0x3ffu));
}

// Launch of a module expected to fail at compilation (first launch); the
// status and what cuvirt printed to stderr.
std::pair<CUresult, std::string> failingLaunch(const std::string &ptx) {
  Module m(ptx);
  if (m.status != CUDA_SUCCESS)
    return {m.status, m.log};
  DevBuf out(64 * 64);
  Dims d;
  d.bx = 32;
  std::fflush(stderr);
  FILE *tmp = std::tmpfile();
  REQUIRE(tmp);
  int saved = dup(2);
  dup2(fileno(tmp), 2);
  CUfunction fn = nullptr;
  CUresult st = cuModuleGetFunction(&fn, m.mod, "k");
  if (st == CUDA_SUCCESS)
    st = launch(fn, d, {out.p, out.p, out.p, out.p});
  std::fflush(stderr);
  dup2(saved, 2);
  close(saved);
  std::string text;
  std::rewind(tmp);
  for (int c; (c = std::fgetc(tmp)) != EOF;)
    text += char(c);
  std::fclose(tmp);
  return {st, text};
}

// Thread t of a 64-thread block: lane = t % 32, registers from a/b/c at t*4, t*2, t*4; d to t*4.
const char *kMmaK16 = R"(
.visible .entry k(.param .u64 pa, .param .u64 pb, .param .u64 pc, .param .u64 pd)
{
  .reg .b32 %r<16>;
  .reg .f32 %f<16>;
  .reg .b64 %rl<16>;
  mov.u32 %r0, %tid.x;
  mul.wide.u32 %rl0, %r0, 16;
  mul.wide.u32 %rl1, %r0, 8;
  ld.param.u64 %rl2, [pa];
  ld.param.u64 %rl3, [pb];
  ld.param.u64 %rl4, [pc];
  ld.param.u64 %rl5, [pd];
  add.u64 %rl2, %rl2, %rl0;
  add.u64 %rl3, %rl3, %rl1;
  add.u64 %rl4, %rl4, %rl0;
  add.u64 %rl5, %rl5, %rl0;
  ld.global.v4.b32 {%r1, %r2, %r3, %r4}, [%rl2];
  ld.global.v2.b32 {%r5, %r6}, [%rl3];
  ld.global.v4.f32 {%f1, %f2, %f3, %f4}, [%rl4];
  mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%f5, %f6, %f7, %f8}, {%r1, %r2, %r3, %r4}, {%r5, %r6}, {%f1, %f2, %f3, %f4};
  st.global.v4.f32 [%rl5], {%f5, %f6, %f7, %f8};
}
)";

TEST_CASE("mma.sync m16n8k16 f16 -> f32 in the documented fragment layout") {
  useContext();
  Module m(std::string(kHeader) + kMmaK16);
  REQUIRE_MESSAGE(m.status == CUDA_SUCCESS, m.log);
  // Two warps, two problems: A 16x16, B 16x8, C 16x8 (small integers: exact).
  float A[2][16][16], Bm[2][16][8], C[2][16][8];
  Rng rng;
  for (int w = 0; w < 2; ++w) {
    for (auto &row : A[w])
      for (float &x : row)
        x = float(int(rng.next() % 9) - 4);
    for (auto &row : Bm[w])
      for (float &x : row)
        x = float(int(rng.next() % 9) - 4) * 0.5f;
    for (auto &row : C[w])
      for (float &x : row)
        x = float(int(rng.next() % 41) - 20);
  }
  std::vector<uint32_t> a(64 * 4), b(64 * 2);
  std::vector<float> c(64 * 4);
  for (int t = 0; t < 64; ++t) {
    int w = t / 32, lane = t % 32, g = lane >> 2, tig = lane % 4;
    // PTX ISA: a_i row = g for i in {0,1,4,5}, else g+8; col = 2*tig + (i&1), +8 for i >= 4
    for (int i = 0; i < 8; ++i) {
      int row = (i < 2 || (i >= 4 && i < 6)) ? g : g + 8, col = tig * 2 + (i & 1) + (i >= 4 ? 8 : 0);
      a[t * 4 + i / 2] |= uint32_t(halfBits(A[w][row][col])) << (16 * (i & 1));
    }
    // b_i row = 2*tig + (i&1), +8 for i >= 2; col = g
    for (int i = 0; i < 4; ++i) {
      int row = tig * 2 + (i & 1) + (i >= 2 ? 8 : 0);
      b[t * 2 + i / 2] |= uint32_t(halfBits(Bm[w][row][g])) << (16 * (i & 1));
    }
    // c_i row = g, +8 for i >= 2; col = 2*tig + (i&1)
    for (int i = 0; i < 4; ++i)
      c[t * 4 + i] = C[w][g + (i >= 2 ? 8 : 0)][tig * 2 + (i & 1)];
  }
  DevBuf pa(a.size() * 4), pb(b.size() * 4), pc(c.size() * 4), pd(c.size() * 4);
  pa.put(a);
  pb.put(b);
  pc.put(c);
  Dims d;
  d.bx = 64;
  REQUIRE(launch(m.fn(), d, {pa.p, pb.p, pc.p, pd.p}) == CUDA_SUCCESS);
  auto out = pd.get<float>(64 * 4);
  for (int t = 0; t < 64; ++t) {
    int w = t / 32, lane = t % 32, g = lane >> 2, tig = lane % 4;
    for (int i = 0; i < 4; ++i) {
      int row = g + (i >= 2 ? 8 : 0), col = tig * 2 + (i & 1);
      float want = C[w][row][col];
      for (int k = 0; k < 16; ++k)
        want += A[w][row][k] * Bm[w][k][col];
      CHECK_MESSAGE(out[t * 4 + i] == want, "thread ", t, " d", i);
    }
  }
}

// ldmatrix: 64 threads store 16 bytes each into shared memory (row t), sync,
// then each lane passes the address of row 32*warp + (5*lane + 3) % 32 and
// stores its MODE registers at out + 16*t.
std::string ldmatrixKernel(const std::string &mode, int regs) {
  std::string list;
  for (int i = 0; i < regs; ++i)
    list += (i ? ", %r" : "%r") + std::to_string(10 + i);
  std::string stores;
  for (int i = 0; i < regs; ++i)
    stores += "  st.global.b32 [%rl5+" + std::to_string(4 * i) + "], %r" + std::to_string(10 + i) + ";\n";
  return std::string(kHeader) + R"(
.visible .entry k(.param .u64 pin, .param .u64 pout)
{
  .shared .align 16 .b8 sm[1024];
  .reg .b32 %r<20>;
  .reg .b64 %rl<8>;
  mov.u32 %r0, %tid.x;
  mul.wide.u32 %rl0, %r0, 16;
  ld.param.u64 %rl1, [pin];
  ld.param.u64 %rl2, [pout];
  add.u64 %rl3, %rl1, %rl0;
  ld.global.v4.b32 {%r1, %r2, %r3, %r4}, [%rl3];
  mov.u32 %r5, sm;
  mul.lo.u32 %r6, %r0, 16;
  add.u32 %r6, %r5, %r6;
  st.shared.v4.b32 [%r6], {%r1, %r2, %r3, %r4};
  bar.sync 0;
  and.b32 %r7, %r0, 31;
  mad.lo.u32 %r7, %r7, 5, 3;
  and.b32 %r7, %r7, 31;
  and.b32 %r8, %r0, 32;
  add.u32 %r7, %r7, %r8;
  mad.lo.u32 %r9, %r7, 16, %r5;
  ldmatrix.sync.aligned.m8n8)" +
         mode + ".shared.b16 {" + list + R"(}, [%r9];
  add.u64 %rl5, %rl2, %rl0;
)" + stores +
         "}\n";
}

TEST_CASE("ldmatrix .x1/.x2/.x4 and .trans: lane l holds row l/4, columns 2(l%4) and +1") {
  useContext();
  std::vector<uint16_t> in(64 * 8);
  for (size_t i = 0; i < in.size(); ++i)
    in[i] = uint16_t(i * 13 + 7);
  for (int count : {1, 2, 4})
    for (bool trans : {false, true}) {
      std::string mode = ".x" + std::to_string(count) + (trans ? ".trans" : "");
      CAPTURE(mode);
      Module m(ldmatrixKernel(mode, count));
      REQUIRE_MESSAGE(m.status == CUDA_SUCCESS, m.log);
      DevBuf pin(in.size() * 2), pout(64 * 16);
      pin.put(in);
      Dims d;
      d.bx = 64;
      REQUIRE(launch(m.fn(), d, {pin.p, pout.p}) == CUDA_SUCCESS);
      auto out = pout.get<uint32_t>(64 * 4);
      for (int t = 0; t < 64; ++t) {
        int w = t / 32, lane = t % 32;
        // element (r, c) of matrix i: the row lane 8i + r pointed at
        auto elem = [&](int i, int r, int c) {
          int row = 32 * w + (5 * (8 * i + r) + 3) % 32;
          return uint32_t(in[row * 8 + c]);
        };
        for (int i = 0; i < count; ++i) {
          int r = lane / 4, c = 2 * (lane % 4);
          uint32_t want =
              trans ? elem(i, c, r) | elem(i, c + 1, r) << 16 : elem(i, r, c) | elem(i, r, c + 1) << 16;
          CHECK_MESSAGE(out[t * 4 + i] == want, "thread ", t, " reg ", i);
        }
      }
    }
}

// stmatrix .x4 (and .trans): registers from in + 16*t; lane l stores row
// 32*warp + (7*l + 1) % 32 of shared memory; then thread t copies shared row t out.
std::string stmatrixKernel(bool trans) {
  return std::string(kHeader) + R"(
.visible .entry k(.param .u64 pin, .param .u64 pout)
{
  .shared .align 16 .b8 sm[1024];
  .reg .b32 %r<20>;
  .reg .b64 %rl<8>;
  mov.u32 %r0, %tid.x;
  mul.wide.u32 %rl0, %r0, 16;
  ld.param.u64 %rl1, [pin];
  ld.param.u64 %rl2, [pout];
  add.u64 %rl3, %rl1, %rl0;
  ld.global.v4.b32 {%r1, %r2, %r3, %r4}, [%rl3];
  mov.u32 %r5, sm;
  and.b32 %r7, %r0, 31;
  mad.lo.u32 %r7, %r7, 7, 1;
  and.b32 %r7, %r7, 31;
  and.b32 %r8, %r0, 32;
  add.u32 %r7, %r7, %r8;
  mad.lo.u32 %r9, %r7, 16, %r5;
  stmatrix.sync.aligned.m8n8.x4)" +
         std::string(trans ? ".trans" : "") + R"(.shared.b16 [%r9], {%r1, %r2, %r3, %r4};
  bar.sync 0;
  mad.lo.u32 %r6, %r0, 16, %r5;
  ld.shared.v4.b32 {%r10, %r11, %r12, %r13}, [%r6];
  add.u64 %rl5, %rl2, %rl0;
  st.global.v4.b32 [%rl5], {%r10, %r11, %r12, %r13};
}
)";
}

TEST_CASE("stmatrix .x4 and .x4.trans: the inverse of ldmatrix") {
  useContext();
  std::vector<uint32_t> in(64 * 4);
  for (size_t i = 0; i < in.size(); ++i)
    in[i] = uint32_t(i * 0x00010001u * 3 + 0x00020001u);
  for (bool trans : {false, true}) {
    CAPTURE(trans);
    Module m(stmatrixKernel(trans));
    REQUIRE_MESSAGE(m.status == CUDA_SUCCESS, m.log);
    DevBuf pin(in.size() * 4), pout(64 * 16);
    pin.put(in);
    Dims d;
    d.bx = 64;
    REQUIRE(launch(m.fn(), d, {pin.p, pout.p}) == CUDA_SUCCESS);
    auto out = pout.get<uint16_t>(64 * 8);
    for (int w = 0; w < 2; ++w)
      for (int i = 0; i < 4; ++i)
        for (int r = 0; r < 8; ++r)
          for (int c = 0; c < 8; ++c) {
            // memory row r of matrix i goes where lane 8i + r pointed
            int row = 32 * w + (7 * (8 * i + r) + 1) % 32;
            // the value at (r, c): from lane 4r + c/2 (not trans) or 4c + r/2 (trans)
            int lane = trans ? 4 * c + r / 2 : 4 * r + c / 2, half = trans ? r % 2 : c % 2;
            uint16_t want = uint16_t(in[(32 * w + lane) * 4 + i] >> (16 * half));
            CHECK_MESSAGE(out[row * 8 + c] == want, "warp ", w, " matrix ", i, " (", r, ",", c, ")");
          }
  }
}

// wmma f16 m16n16k16: A row-major (ldm 24), B column-major (ldm 16), C and D
// f32 row-major (ldm 16). The fragment layout is cuvirt's; only D is observable.
const char *kWmma = R"(
.visible .entry k(.param .u64 pa, .param .u64 pb, .param .u64 pc, .param .u64 pd)
{
  .reg .b32 %r<32>;
  .reg .f32 %f<32>;
  .reg .b64 %rl<8>;
  ld.param.u64 %rl1, [pa];
  ld.param.u64 %rl2, [pb];
  ld.param.u64 %rl3, [pc];
  ld.param.u64 %rl4, [pd];
  mov.u32 %r0, 24;
  wmma.load.a.sync.aligned.row.m16n16k16.global.f16 {%r1, %r2, %r3, %r4, %r5, %r6, %r7, %r8}, [%rl1], %r0;
  wmma.load.b.sync.aligned.col.m16n16k16.global.f16 {%r9, %r10, %r11, %r12, %r13, %r14, %r15, %r16}, [%rl2];
  wmma.load.c.sync.aligned.row.m16n16k16.global.f32 {%f1, %f2, %f3, %f4, %f5, %f6, %f7, %f8}, [%rl3], 16;
  wmma.mma.sync.aligned.row.col.m16n16k16.f32.f32 {%f9, %f10, %f11, %f12, %f13, %f14, %f15, %f16}, {%r1, %r2, %r3, %r4, %r5, %r6, %r7, %r8}, {%r9, %r10, %r11, %r12, %r13, %r14, %r15, %r16}, {%f1, %f2, %f3, %f4, %f5, %f6, %f7, %f8};
  wmma.store.d.sync.aligned.row.m16n16k16.global.f32 [%rl4], {%f9, %f10, %f11, %f12, %f13, %f14, %f15, %f16}, 16;
}
)";

TEST_CASE("wmma m16n16k16 f16 -> f32, A row-major with a wider stride, B column-major") {
  useContext();
  Module m(std::string(kHeader) + kWmma);
  REQUIRE_MESSAGE(m.status == CUDA_SUCCESS, m.log);
  float A[16][16], Bm[16][16], C[16][16];
  Rng rng;
  std::vector<uint16_t> a(16 * 24, halfBits(-99.0f)), b(16 * 16);
  std::vector<float> c(256);
  for (int r = 0; r < 16; ++r)
    for (int k = 0; k < 16; ++k) {
      A[r][k] = float(int(rng.next() % 7) - 3);
      a[r * 24 + k] = halfBits(A[r][k]);
    }
  for (int k = 0; k < 16; ++k)
    for (int n = 0; n < 16; ++n) {
      Bm[k][n] = float(int(rng.next() % 7) - 3) * 0.25f;
      b[n * 16 + k] = halfBits(Bm[k][n]);
    }
  for (int r = 0; r < 16; ++r)
    for (int n = 0; n < 16; ++n)
      c[r * 16 + n] = C[r][n] = float(int(rng.next() % 21) - 10);
  DevBuf pa(a.size() * 2), pb(b.size() * 2), pc(c.size() * 4), pd(c.size() * 4);
  pa.put(a);
  pb.put(b);
  pc.put(c);
  Dims d;
  d.bx = 32;
  REQUIRE(launch(m.fn(), d, {pa.p, pb.p, pc.p, pd.p}) == CUDA_SUCCESS);
  auto out = pd.get<float>(256);
  for (int r = 0; r < 16; ++r)
    for (int n = 0; n < 16; ++n) {
      float want = C[r][n];
      for (int k = 0; k < 16; ++k)
        want += A[r][k] * Bm[k][n];
      CHECK_MESSAGE(out[r * 16 + n] == want, "D[", r, "][", n, "]");
    }
}

// The same through shared memory (as cuda-samples' cudaTensorCoreGemm
// stages tiles): A and B copied to .shared (A with a padded row of 24), the
// fragments loaded with .shared and 32-bit shared addresses, D stored to
// shared and copied out; C filled with 1.5 in registers (fill_fragment).
const char *kWmmaShared = R"(
.visible .entry k(.param .u64 pa, .param .u64 pb, .param .u64 pc, .param .u64 pd)
{
  .shared .align 32 .b8 sa[768];
  .shared .align 32 .b8 sb[512];
  .shared .align 32 .b8 sd[1024];
  .reg .b32 %r<40>;
  .reg .f32 %f<32>;
  .reg .b64 %rl<8>;
  .reg .pred %p<2>;
  ld.param.u64 %rl1, [pa];
  ld.param.u64 %rl2, [pb];
  ld.param.u64 %rl4, [pd];
  mov.u32 %r30, %tid.x;
  mov.u32 %r31, 0;
COPY:
  shl.b32 %r32, %r31, 5;
  add.u32 %r32, %r32, %r30;
  mul.wide.u32 %rl5, %r32, 2;
  add.u64 %rl6, %rl1, %rl5;
  ld.global.u16 %r33, [%rl6];
  mov.u32 %r34, sa;
  mad.lo.u32 %r34, %r32, 2, %r34;
  st.shared.u16 [%r34], %r33;
  setp.lt.u32 %p1, %r32, 256;
  @!%p1 bra SKIPB;
  add.u64 %rl6, %rl2, %rl5;
  ld.global.u16 %r33, [%rl6];
  mov.u32 %r34, sb;
  mad.lo.u32 %r34, %r32, 2, %r34;
  st.shared.u16 [%r34], %r33;
SKIPB:
  add.u32 %r31, %r31, 1;
  setp.lt.u32 %p1, %r31, 12;
  @%p1 bra COPY;
  bar.sync 0;
  mov.u32 %r35, sa;
  mov.u32 %r36, sb;
  wmma.load.a.sync.aligned.row.m16n16k16.shared.f16 {%r1, %r2, %r3, %r4, %r5, %r6, %r7, %r8}, [%r35], 24;
  wmma.load.b.sync.aligned.row.m16n16k16.shared.f16 {%r9, %r10, %r11, %r12, %r13, %r14, %r15, %r16}, [%r36], 16;
  mov.f32 %f1, 0f3FC00000;
  mov.f32 %f2, %f1;
  mov.f32 %f3, %f1;
  mov.f32 %f4, %f1;
  mov.f32 %f5, %f1;
  mov.f32 %f6, %f1;
  mov.f32 %f7, %f1;
  mov.f32 %f8, %f1;
  wmma.mma.sync.aligned.row.row.m16n16k16.f32.f32 {%f9, %f10, %f11, %f12, %f13, %f14, %f15, %f16}, {%r1, %r2, %r3, %r4, %r5, %r6, %r7, %r8}, {%r9, %r10, %r11, %r12, %r13, %r14, %r15, %r16}, {%f1, %f2, %f3, %f4, %f5, %f6, %f7, %f8};
  mov.u32 %r37, sd;
  wmma.store.d.sync.aligned.col.m16n16k16.shared.f32 [%r37], {%f9, %f10, %f11, %f12, %f13, %f14, %f15, %f16}, 16;
  bar.sync 0;
  mov.u32 %r31, 0;
OUT:
  shl.b32 %r32, %r31, 5;
  add.u32 %r32, %r32, %r30;
  mad.lo.u32 %r34, %r32, 4, %r37;
  ld.shared.f32 %f20, [%r34];
  mul.wide.u32 %rl5, %r32, 4;
  add.u64 %rl6, %rl4, %rl5;
  st.global.f32 [%rl6], %f20;
  add.u32 %r31, %r31, 1;
  setp.lt.u32 %p1, %r31, 8;
  @%p1 bra OUT;
}
)";

TEST_CASE("wmma through shared memory: .shared loads and a column-major store, C by fill") {
  useContext();
  Module m(std::string(kHeader) + kWmmaShared);
  REQUIRE_MESSAGE(m.status == CUDA_SUCCESS, m.log);
  float A[16][16], Bm[16][16];
  Rng rng;
  std::vector<uint16_t> a(16 * 24, halfBits(-99.0f)), b(16 * 16);
  for (int r = 0; r < 16; ++r)
    for (int k = 0; k < 16; ++k) {
      A[r][k] = float(int(rng.next() % 9) - 4);
      a[r * 24 + k] = halfBits(A[r][k]);
    }
  for (int k = 0; k < 16; ++k)
    for (int n = 0; n < 16; ++n) {
      Bm[k][n] = float(int(rng.next() % 9) - 4) * 0.5f;
      b[k * 16 + n] = halfBits(Bm[k][n]);
    }
  DevBuf pa(a.size() * 2), pb(b.size() * 2), pc(4), pd(256 * 4);
  pa.put(a);
  pb.put(b);
  Dims d;
  d.bx = 32;
  REQUIRE(launch(m.fn(), d, {pa.p, pb.p, pc.p, pd.p}) == CUDA_SUCCESS);
  auto out = pd.get<float>(256);
  for (int r = 0; r < 16; ++r)
    for (int n = 0; n < 16; ++n) {
      float want = 1.5f;
      for (int k = 0; k < 16; ++k)
        want += A[r][k] * Bm[k][n];
      CHECK_MESSAGE(out[n * 16 + r] == want, "D[", r, "][", n, "] (stored column-major)");
    }
}

std::string oneInstr(const std::string &regs, const std::string &instr) {
  return std::string(kHeader) +
         ".visible .entry k(.param .u64 p0, .param .u64 p1, .param .u64 p2, .param .u64 p3)\n{\n" + regs +
         "\n  " + instr + "\n}\n";
}

TEST_CASE("unsupported tensor-core forms fail clearly, naming the instruction") {
  useContext();
  SUBCASE("wgmma (sm_90a warpgroup MMA): NOT_SUPPORTED at compilation") {
    auto [st, log] = failingLaunch(oneInstr("  .reg .f32 %f<8>;\n  .reg .b64 %rl<4>;\n  .reg .pred %p<2>;\n  "
                                            "mov.b64 %rl1, 0;\n  mov.b64 %rl2, 0;\n"
                                            "  setp.ne.b64 %p1, %rl1, 0;",
                                            "wgmma.mma_async.sync.aligned.m64n8k16.f32.f16.f16 {%f0, %f1, "
                                            "%f2, %f3}, %rl1, %rl2, %p1, 1, 1, 0, 0;"));
    CHECK(st == CUDA_ERROR_NOT_SUPPORTED);
    INFO("log: ", log);
    CHECK(log.find("wgmma.mma_async.sync.aligned.m64n8k16.f32.f16.f16") != std::string::npos);
    CHECK(log.find("warpgroup") != std::string::npos);
  }
  SUBCASE("b1 mma: NOT_SUPPORTED at compilation") {
    auto [st, log] = failingLaunch(
        oneInstr("  .reg .b32 %r<16>;\n  mov.b32 %r1, 0;",
                 "mma.sync.aligned.m16n8k256.row.col.s32.b1.b1.s32.and.popc {%r0, %r1, %r2, %r3}, {%r4, %r5, "
                 "%r6, %r7}, {%r8, %r9}, {%r10, %r11, %r12, %r13};"));
    CHECK(st == CUDA_ERROR_NOT_SUPPORTED);
    INFO("log: ", log);
    CHECK(log.find("mma.sync.aligned.m16n8k256.row.col.s32.b1.b1.s32.and.popc") != std::string::npos);
  }
  SUBCASE("m8n8k4 f16 (the sm_70 quad-pair layout): NOT_SUPPORTED at compilation") {
    auto [st, log] = failingLaunch(
        oneInstr("  .reg .b32 %r<16>;\n  .reg .f32 %f<8>;\n  mov.b32 %r1, 0;",
                 "mma.sync.aligned.m8n8k4.row.col.f32.f16.f16.f32 {%f0, %f1, %f2, %f3, %f4, %f5, %f6, %f7}, "
                 "{%r0, %r1}, {%r2, %r3}, {%f0, %f1, %f2, %f3, %f4, %f5, %f6, %f7};"));
    CHECK(st == CUDA_ERROR_NOT_SUPPORTED);
    INFO("log: ", log);
    CHECK(log.find("quad-pair") != std::string::npos);
  }
  SUBCASE("a fragment with the wrong register count: INVALID_PTX") {
    auto [st, log] = failingLaunch(
        oneInstr("  .reg .b32 %r<16>;\n  .reg .f32 %f<8>;",
                 "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%f0, %f1, %f2, %f3}, {%r0, %r1, %r2}, "
                 "{%r4, %r5}, {%f4, %f5, %f6, %f7};"));
    CHECK(st == CUDA_ERROR_INVALID_PTX);
    INFO("log: ", log);
    CHECK(log.find("expected 4 registers") != std::string::npos);
  }
}

} // namespace

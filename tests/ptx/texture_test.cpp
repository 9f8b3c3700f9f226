// Texture and surface instructions: tex with integer coordinates, txq, tld4,
// suld/sust (.b, trap and clamp modes) and suq, on objects made through the
// driver API.
#include "harness.h"
#include <vector>

using namespace ptxg;

namespace {

CUarray makeArray(size_t w, size_t h, CUarray_format f, unsigned flags, const void *data, size_t elem) {
  CUDA_ARRAY3D_DESCRIPTOR d{};
  d.Width = w;
  d.Height = h;
  d.Format = f;
  d.NumChannels = 1;
  d.Flags = flags;
  CUarray a = nullptr;
  REQUIRE(cuArray3DCreate(&a, &d) == CUDA_SUCCESS);
  REQUIRE(cuMemcpyHtoA(a, 0, data, w * h * elem) == CUDA_SUCCESS);
  return a;
}

} // namespace

TEST_CASE("tex.2d.v4.s32.s32, tld4, txq, suld.b, sust.b, suq") {
  useContext();
  std::string ptx = std::string(kHeader) + R"(
.visible .entry k(.param .u64 ptex, .param .u64 psurf, .param .u64 pout, .param .u64 pftex)
{
  .reg .b32 %r<24>;
  .reg .b64 %rl<8>;
  .reg .f32 %f<8>;
  ld.param.u64 %rl1, [ptex];
  ld.param.u64 %rl2, [psurf];
  ld.param.u64 %rl3, [pout];
  ld.param.u64 %rl6, [pftex];
  mov.u32 %r1, %tid.x;
  mov.u32 %r2, 1;
  tex.2d.v4.s32.s32 {%r3, %r4, %r5, %r6}, [%rl1, {%r1, %r2}];
  txq.width.b32 %r7, [%rl1];
  txq.height.b32 %r8, [%rl1];
  shl.b32 %r9, %r1, 2;
  mov.u32 %r10, 0;
  suld.b.2d.b32.trap {%r11}, [%rl2, {%r9, %r10}];
  add.u32 %r12, %r11, 1;
  mov.u32 %r13, 1;
  sust.b.2d.b32.clamp [%rl2, {%r9, %r13}], {%r12};
  suq.width.b32 %r14, [%rl2];
  cvt.rn.f32.u32 %f1, %r1;
  add.f32 %f1, %f1, 0f3F800000;
  mov.f32 %f2, 0f3F800000;
  tld4.r.2d.v4.f32.f32 {%f3, %f4, %f5, %f6}, [%rl6, {%f1, %f2}];
  mul.wide.u32 %rl4, %r1, 32;
  add.u64 %rl5, %rl3, %rl4;
  st.global.v4.u32 [%rl5], {%r3, %r7, %r8, %r14};
  st.global.v4.f32 [%rl5+16], {%f3, %f4, %f5, %f6};
  ret;
}
)";
  Module m(ptx);
  REQUIRE_MESSAGE(m.status == CUDA_SUCCESS, m.log);
  // int texture: texel (x, y) = 10y + x; u32 surface: row 0 = 100 + x.
  std::vector<int> ti = {0, 1, 2, 3, 10, 11, 12, 13};
  std::vector<unsigned> si = {100, 101, 102, 103, 0, 0, 0, 0};
  std::vector<float> tf = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11};
  CUarray ta = makeArray(4, 2, CU_AD_FORMAT_SIGNED_INT32, 0, ti.data(), 4);
  CUarray sa = makeArray(4, 2, CU_AD_FORMAT_UNSIGNED_INT32, CUDA_ARRAY3D_SURFACE_LDST, si.data(), 4);
  CUarray fa = makeArray(6, 2, CU_AD_FORMAT_FLOAT, CUDA_ARRAY3D_TEXTURE_GATHER, tf.data(), 4);
  CUDA_RESOURCE_DESC r{};
  r.resType = CU_RESOURCE_TYPE_ARRAY;
  CUDA_TEXTURE_DESC t{};
  t.flags = CU_TRSF_READ_AS_INTEGER;
  CUtexObject tex = 0, ftex = 0;
  CUsurfObject surf = 0;
  r.res.array.hArray = ta;
  REQUIRE(cuTexObjectCreate(&tex, &r, &t, nullptr) == CUDA_SUCCESS);
  r.res.array.hArray = fa;
  t.flags = 0;
  REQUIRE(cuTexObjectCreate(&ftex, &r, &t, nullptr) == CUDA_SUCCESS);
  r.res.array.hArray = sa;
  REQUIRE(cuSurfObjectCreate(&surf, &r) == CUDA_SUCCESS);
  DevBuf out(4 * 32);
  Dims d;
  d.bx = 4;
  REQUIRE(launch(m.fn(), d, {tex, surf, out.p, ftex}) == CUDA_SUCCESS);
  auto u = out.get<unsigned>(4 * 8);
  for (unsigned i = 0; i < 4; ++i) {
    INFO("thread " << i);
    CHECK(int(u[i * 8 + 0]) == 10 + int(i)); // tex (i, 1)
    CHECK(u[i * 8 + 1] == 4);                // txq.width
    CHECK(u[i * 8 + 2] == 2);                // txq.height
    CHECK(u[i * 8 + 3] == 4);                // suq.width
    // tld4.r at (i + 1, 1): texels u0 = i, u1 = i + 1 (clamped to 5), v0 = 0, v1 = 1.
    const unsigned u0 = i, u1 = i + 1 < 6 ? i + 1 : 5;
    CHECK(f32(u[i * 8 + 4]) == tf[6 + u0]);
    CHECK(f32(u[i * 8 + 5]) == tf[6 + u1]);
    CHECK(f32(u[i * 8 + 6]) == tf[u1]);
    CHECK(f32(u[i * 8 + 7]) == tf[u0]);
  }
  std::vector<unsigned> back(8);
  REQUIRE(cuMemcpyAtoH(back.data(), sa, 0, 32) == CUDA_SUCCESS);
  for (unsigned x = 0; x < 4; ++x)
    CHECK(back[4 + x] == 101 + x); // sust row 1
  CHECK(cuTexObjectDestroy(tex) == CUDA_SUCCESS);
  CHECK(cuTexObjectDestroy(ftex) == CUDA_SUCCESS);
  CHECK(cuSurfObjectDestroy(surf) == CUDA_SUCCESS);
  CHECK(cuArrayDestroy(ta) == CUDA_SUCCESS);
  CHECK(cuArrayDestroy(sa) == CUDA_SUCCESS);
  CHECK(cuArrayDestroy(fa) == CUDA_SUCCESS);
}

// .trap faults (CUDA_ERROR_ILLEGAL_ADDRESS) are checked by
// tests/cuda/kernels/surface_object.cu: doctest's own SIGSEGV handler would
// take the fault here.

TEST_CASE("sured.b: atomic add, min and max on surface elements") {
  useContext();
  std::string ptx = std::string(kHeader) + R"(
.visible .entry k(.param .u64 psurf)
{
  .reg .b32 %r<8>;
  .reg .b64 %rl<2>;
  ld.param.u64 %rl1, [psurf];
  mov.u32 %r1, %tid.x;
  add.u32 %r2, %r1, 1;
  mov.u32 %r3, 0;
  mov.u32 %r4, 4;
  mov.u32 %r5, 8;
  sured.b.add.2d.u32.trap [%rl1, {%r3, %r3}], %r2;
  sub.s32 %r6, 10, %r1;
  sured.b.min.2d.s32.trap [%rl1, {%r4, %r3}], %r6;
  sured.b.max.2d.s32.clamp [%rl1, {%r5, %r3}], %r6;
  ret;
}
)";
  Module m(ptx);
  REQUIRE_MESSAGE(m.status == CUDA_SUCCESS, m.log);
  std::vector<int> si = {5, 100, -100, 0};
  CUarray sa = makeArray(4, 1, CU_AD_FORMAT_SIGNED_INT32, CUDA_ARRAY3D_SURFACE_LDST, si.data(), 4);
  CUDA_RESOURCE_DESC r{};
  r.resType = CU_RESOURCE_TYPE_ARRAY;
  r.res.array.hArray = sa;
  CUsurfObject surf = 0;
  REQUIRE(cuSurfObjectCreate(&surf, &r) == CUDA_SUCCESS);
  Dims d;
  d.bx = 64;
  REQUIRE(launch(m.fn(), d, {surf}) == CUDA_SUCCESS);
  std::vector<int> back(4);
  REQUIRE(cuMemcpyAtoH(back.data(), sa, 0, 16) == CUDA_SUCCESS);
  CHECK(back[0] == 5 + 64 * 65 / 2); // sum of 1..64
  CHECK(back[1] == 10 - 63);         // min over 10 - tid
  CHECK(back[2] == 10);              // max over 10 - tid
  CHECK(back[3] == 0);
  CHECK(cuSurfObjectDestroy(surf) == CUDA_SUCCESS);
  CHECK(cuArrayDestroy(sa) == CUDA_SUCCESS);
}

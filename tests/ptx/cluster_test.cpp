// Thread block clusters (sm_90 __cluster_dims__, .reqnctapercluster): the
// cluster special registers follow the kernel's cluster shape; shapes that do
// not divide the grid are refused at launch.
#include "harness.h"

using namespace ptxg;

namespace {
std::string clusterKernel(const char *dims) {
  return std::string(kHeader) + R"(
.visible .entry k(.param .u64 out) .reqnctapercluster )" +
         dims + R"(
{
  .reg .b32 %r<6>;
  .reg .b64 %rd<3>;
  ld.param.u64 %rd1, [out];
  mov.u32 %r1, %cluster_ctarank;
  mov.u32 %r2, %clusterid.x;
  mov.u32 %r3, %cluster_nctarank;
  mad.lo.u32 %r4, %r2, 100, %r1;
  mad.lo.u32 %r4, %r3, 10000, %r4;
  mov.u32 %r5, %ctaid.x;
  mul.wide.u32 %rd2, %r5, 4;
  add.s64 %rd1, %rd1, %rd2;
  st.global.u32 [%rd1], %r4;
  ret;
}
)";
}
} // namespace

TEST_CASE("clusters of 2 blocks: ranks, cluster ids and sizes; grids of 1 and 3 refused") {
  useContext();
  Module m(clusterKernel("2, 1, 1"));
  REQUIRE(m.status == CUDA_SUCCESS);
  DevBuf out(4 * 4);
  Dims d;
  d.gx = 1;
  CHECK(launch(m.fn(), d, {out.p}) == CUDA_ERROR_INVALID_CLUSTER_SIZE);
  d.gx = 3;
  CHECK(launch(m.fn(), d, {out.p}) == CUDA_ERROR_INVALID_CLUSTER_SIZE);
  d.gx = 4;
  REQUIRE(launch(m.fn(), d, {out.p}) == CUDA_SUCCESS);
  auto o = out.get<uint32_t>(4);
  for (uint32_t b = 0; b < 4; ++b)
    CHECK_MESSAGE(o[b] == 20000 + b / 2 * 100 + b % 2, "block ", b, ": ", o[b]);
}

TEST_CASE("a kernel with clusters of one block runs") {
  useContext();
  Module m(clusterKernel("1, 1, 1"));
  REQUIRE(m.status == CUDA_SUCCESS);
  DevBuf out(4 * 2);
  Dims d;
  d.gx = 2;
  REQUIRE(launch(m.fn(), d, {out.p}) == CUDA_SUCCESS);
  auto o = out.get<uint32_t>(2);
  CHECK(o[0] == 10000);       // rank 0 of cluster 0, one block per cluster
  CHECK(o[1] == 10000 + 100); // rank 0 of cluster 1
}

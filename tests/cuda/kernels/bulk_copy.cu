// Bulk asynchronous copies (sm_90 cp.async.bulk, without tensor maps):
// cuda::memcpy_async of 16-byte aligned sizes into shared memory, completing
// on a cuda::barrier by transaction count (libcu++ issues the copy before its
// expect_tx); shared-to-global bulk stores with commit/wait groups; several
// stages reusing one barrier.
#include "../common/check.h"
#include <cuda/barrier>
#include <cuda/ptx>
#include <vector>

using barrier = cuda::barrier<cuda::thread_scope_block>;
namespace cde = cuda::device::experimental;

constexpr int kTile = 256;

// out[i] = 2 * in[i] + stage, tile by tile, through shared memory both ways.
__global__ void scaleTiles(const int4 *in, int4 *out, int tiles) {
  __shared__ alignas(16) int4 buf[kTile];
#pragma nv_diag_suppress static_var_with_dynamic_init
  __shared__ barrier bar;
  if (threadIdx.x == 0)
    init(&bar, blockDim.x);
  __syncthreads();
  for (int t = blockIdx.x; t < tiles; t += gridDim.x) {
    if (threadIdx.x == 0)
      cuda::memcpy_async(buf, in + t * kTile, cuda::aligned_size_t<16>(sizeof buf), bar);
    bar.arrive_and_wait();
    int4 v = buf[threadIdx.x];
    buf[threadIdx.x] = make_int4(2 * v.x + t, 2 * v.y + t, 2 * v.z + t, 2 * v.w + t);
    cde::fence_proxy_async_shared_cta(); // the bulk store reads what the threads wrote
    __syncthreads();
    if (threadIdx.x == 0) {
      cde::cp_async_bulk_shared_to_global(out + t * kTile, buf, sizeof buf);
      cde::cp_async_bulk_commit_group();
      cde::cp_async_bulk_wait_group_read<0>();
    }
    __syncthreads(); // buf is free for the next tile
  }
}

int main() {
  const int tiles = 10, n = tiles * kTile;
  std::vector<int4> h(n);
  for (int i = 0; i < n; ++i)
    h[i] = make_int4(i, -i, 3 * i, 7);
  int4 *in, *out;
  CHECK(cudaMalloc(&in, n * sizeof(int4)));
  CHECK(cudaMalloc(&out, n * sizeof(int4)));
  CHECK(cudaMemcpy(in, h.data(), n * sizeof(int4), cudaMemcpyHostToDevice));
  CHECK(cudaMemset(out, 0, n * sizeof(int4)));
  scaleTiles<<<3, kTile>>>(in, out, tiles);
  CHECK(cudaGetLastError());
  CHECK(cudaDeviceSynchronize());
  std::vector<int4> got(n);
  CHECK(cudaMemcpy(got.data(), out, n * sizeof(int4), cudaMemcpyDeviceToHost));
  for (int i = 0; i < n; ++i) {
    int t = i / kTile;
    int4 w = make_int4(2 * i + t, -2 * i + t, 6 * i + t, 14 + t);
    EXPECT(got[i].x == w.x && got[i].y == w.y && got[i].z == w.z && got[i].w == w.w,
           "element %d: (%d,%d,%d,%d), want (%d,%d,%d,%d)", i, got[i].x, got[i].y, got[i].z, got[i].w, w.x,
           w.y, w.z, w.w);
  }
  PASSED("bulk_copy");
}

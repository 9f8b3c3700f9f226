// 5-point 2D stencil with a shared-memory tile plus halo, clamped borders,
// several iterations ping-ponging two buffers.
#include "check.h"
#include <math.h>
#include <vector>

constexpr int BX = 16, BY = 16;

__global__ void stencil(const float *in, float *out, int w, int h) {
  __shared__ float s[BY + 2][BX + 2];
  int x = blockIdx.x * BX + threadIdx.x, y = blockIdx.y * BY + threadIdx.y;
  auto at = [&](int xx, int yy) {
    xx = min(max(xx, 0), w - 1);
    yy = min(max(yy, 0), h - 1);
    return in[yy * w + xx];
  };
  int lx = threadIdx.x + 1, ly = threadIdx.y + 1;
  s[ly][lx] = at(x, y);
  if (threadIdx.x == 0)
    s[ly][0] = at(x - 1, y);
  if (threadIdx.x == BX - 1)
    s[ly][BX + 1] = at(x + 1, y);
  if (threadIdx.y == 0)
    s[0][lx] = at(x, y - 1);
  if (threadIdx.y == BY - 1)
    s[BY + 1][lx] = at(x, y + 1);
  __syncthreads();
  if (x < w && y < h)
    out[y * w + x] =
        0.5f * s[ly][lx] + 0.125f * (s[ly][lx - 1] + s[ly][lx + 1] + s[ly - 1][lx] + s[ly + 1][lx]);
}

static float at_h(const std::vector<float> &v, int x, int y, int w, int h) {
  x = x < 0 ? 0 : x >= w ? w - 1 : x;
  y = y < 0 ? 0 : y >= h ? h - 1 : y;
  return v[y * w + x];
}

int main() {
  const int w = 200, h = 123, iters = 10;
  std::vector<float> a(w * h), ref(w * h), out(w * h);
  for (int i = 0; i < w * h; ++i)
    a[i] = (float)((i * 17) % 29);
  ref = a;
  for (int it = 0; it < iters; ++it) {
    std::vector<float> nxt(w * h);
    for (int y = 0; y < h; ++y)
      for (int x = 0; x < w; ++x)
        nxt[y * w + x] =
            0.5f * at_h(ref, x, y, w, h) + 0.125f * (at_h(ref, x - 1, y, w, h) + at_h(ref, x + 1, y, w, h) +
                                                     at_h(ref, x, y - 1, w, h) + at_h(ref, x, y + 1, w, h));
    ref.swap(nxt);
  }
  float *d0, *d1;
  CHECK(cudaMalloc(&d0, w * h * sizeof(float)));
  CHECK(cudaMalloc(&d1, w * h * sizeof(float)));
  CHECK(cudaMemcpy(d0, a.data(), w * h * sizeof(float), cudaMemcpyHostToDevice));
  dim3 grid((w + BX - 1) / BX, (h + BY - 1) / BY), block(BX, BY);
  for (int it = 0; it < iters; ++it) {
    stencil<<<grid, block>>>(d0, d1, w, h);
    CHECK(cudaGetLastError());
    std::swap(d0, d1);
  }
  CHECK(cudaDeviceSynchronize());
  CHECK(cudaMemcpy(out.data(), d0, w * h * sizeof(float), cudaMemcpyDeviceToHost));
  for (int i = 0; i < w * h; ++i)
    EXPECT(fabsf(out[i] - ref[i]) <= 1e-4f * (1 + fabsf(ref[i])), "out[%d,%d] = %g, want %g", i % w, i / w,
           out[i], ref[i]);
  CHECK(cudaFree(d0));
  CHECK(cudaFree(d1));
  PASSED("stencil2d");
  return 0;
}

// Matrix transpose through a padded 32x33 shared tile (8 rows of threads per
// tile), non-square and not a multiple of the tile.
#include "check.h"
#include <vector>

constexpr int T = 32, ROWS = 8;

__global__ void transpose(float *out, const float *in, int w, int h) {
  __shared__ float tile[T][T + 1];
  int x = blockIdx.x * T + threadIdx.x, y = blockIdx.y * T + threadIdx.y;
  for (int j = 0; j < T; j += ROWS)
    if (x < w && y + j < h)
      tile[threadIdx.y + j][threadIdx.x] = in[(y + j) * w + x];
  __syncthreads();
  x = blockIdx.y * T + threadIdx.x;
  y = blockIdx.x * T + threadIdx.y;
  for (int j = 0; j < T; j += ROWS)
    if (x < h && y + j < w)
      out[(y + j) * h + x] = tile[threadIdx.x][threadIdx.y + j];
}

int main() {
  const int w = 1000, h = 333;
  std::vector<float> in(w * h), out(w * h, -1);
  for (int i = 0; i < w * h; ++i)
    in[i] = (float)i;
  float *din, *dout;
  CHECK(cudaMalloc(&din, w * h * sizeof(float)));
  CHECK(cudaMalloc(&dout, w * h * sizeof(float)));
  CHECK(cudaMemcpy(din, in.data(), w * h * sizeof(float), cudaMemcpyHostToDevice));
  dim3 grid((w + T - 1) / T, (h + T - 1) / T), block(T, ROWS);
  transpose<<<grid, block>>>(dout, din, w, h);
  CHECK_LAUNCH();
  CHECK(cudaMemcpy(out.data(), dout, w * h * sizeof(float), cudaMemcpyDeviceToHost));
  for (int r = 0; r < h; ++r)
    for (int c = 0; c < w; ++c)
      EXPECT(out[c * h + r] == in[r * w + c], "out[%d][%d] = %g, want %g", c, r, out[c * h + r],
             in[r * w + c]);
  CHECK(cudaFree(din));
  CHECK(cudaFree(dout));
  PASSED("transpose");
  return 0;
}

// Tiled sgemm C = A*B, 1024^3: the CUDA-samples matrixMul kernel (16x16
// shared-memory tiles, __syncthreads) against an OpenMP i-k-j loop.
#include "common.h"
#include <vector>

constexpr int TILE = 16;

__global__ void matmul(const float *A, const float *B, float *C, int n) {
  __shared__ float As[TILE][TILE];
  __shared__ float Bs[TILE][TILE];
  int tx = threadIdx.x, ty = threadIdx.y;
  int row = blockIdx.y * TILE + ty, col = blockIdx.x * TILE + tx;
  float sum = 0.0f;
  for (int t = 0; t < n; t += TILE) {
    As[ty][tx] = A[row * n + t + tx];
    Bs[ty][tx] = B[(t + ty) * n + col];
    __syncthreads();
#pragma unroll
    for (int k = 0; k < TILE; ++k)
      sum += As[ty][k] * Bs[k][tx];
    __syncthreads();
  }
  C[row * n + col] = sum;
}

static void matmul_cpp(const float *A, const float *B, float *C, int n) {
#pragma omp parallel for schedule(static)
  for (int i = 0; i < n; ++i) {
    float *c = C + (size_t)i * n;
    for (int j = 0; j < n; ++j)
      c[j] = 0.0f;
    for (int k = 0; k < n; ++k) {
      const float a = A[(size_t)i * n + k];
      const float *b = B + (size_t)k * n;
#pragma omp simd
      for (int j = 0; j < n; ++j)
        c[j] += a * b[j];
    }
  }
}

int main() {
  const int n = 1024;
  const size_t bytes = (size_t)n * n * sizeof(float);
  std::vector<float> A(n * n), B(n * n), C(n * n), ref(n * n);
  for (int i = 0; i < n * n; ++i)
    A[i] = float(i % 17) * 0.0625f, B[i] = float(i % 13) * 0.125f - 0.5f;
  float *dA, *dB, *dC;
  CK(cudaMalloc(&dA, bytes));
  CK(cudaMalloc(&dB, bytes));
  CK(cudaMalloc(&dC, bytes));
  CK(cudaMemcpy(dA, A.data(), bytes, cudaMemcpyHostToDevice));
  CK(cudaMemcpy(dB, B.data(), bytes, cudaMemcpyHostToDevice));
  auto cuda = [&] {
    matmul<<<dim3(n / TILE, n / TILE), dim3(TILE, TILE)>>>(dA, dB, dC, n);
    CK(cudaDeviceSynchronize());
  };
  auto cpp = [&] { matmul_cpp(A.data(), B.data(), ref.data(), n); };
  compare("sgemm", 8, cuda, cpp);
  CK(cudaMemcpy(C.data(), dC, bytes, cudaMemcpyDeviceToHost));
  check("sgemm", C.data(), ref.data(), (size_t)n * n, 1e-4f);
  return 0;
}

// Tensor-core GEMM C = A*B, 1024^3, f16 inputs and f32 accumulation through
// nvcuda::wmma (each warp one 16x16 tile of C, A and B fragments straight
// from global memory, the cuda-samples simpleTensorCoreGEMM shape), against
// the OpenMP i-k-j sgemm loop on the same values as floats.
#include "common.h"
#include <cuda_fp16.h>
#include <mma.h>
#include <vector>

using namespace nvcuda;

__global__ void wmma_gemm(const __half *A, const __half *B, float *C, int n) {
  int warp = threadIdx.x / 32;
  int tm = blockIdx.y, tn = blockIdx.x * (blockDim.x / 32) + warp;
  wmma::fragment<wmma::accumulator, 16, 16, 16, float> acc;
  wmma::fill_fragment(acc, 0.0f);
  for (int k = 0; k < n; k += 16) {
    wmma::fragment<wmma::matrix_a, 16, 16, 16, __half, wmma::row_major> a;
    wmma::fragment<wmma::matrix_b, 16, 16, 16, __half, wmma::row_major> b;
    wmma::load_matrix_sync(a, A + (size_t)tm * 16 * n + k, n);
    wmma::load_matrix_sync(b, B + (size_t)k * n + tn * 16, n);
    wmma::mma_sync(acc, a, b, acc);
  }
  wmma::store_matrix_sync(C + (size_t)tm * 16 * n + tn * 16, acc, n, wmma::mem_row_major);
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

int main(int argc, char **argv) {
  const int n = argc > 1 ? std::atoi(argv[1]) : 1024;
  std::vector<__half> hA((size_t)n * n), hB((size_t)n * n);
  std::vector<float> A((size_t)n * n), B((size_t)n * n), C((size_t)n * n), ref((size_t)n * n);
  for (size_t i = 0; i < (size_t)n * n; ++i) {
    hA[i] = __float2half(float(i % 17) * 0.0625f);
    hB[i] = __float2half(float(i % 13) * 0.125f - 0.5f);
    A[i] = __half2float(hA[i]);
    B[i] = __half2float(hB[i]);
  }
  __half *dA, *dB;
  float *dC;
  CK(cudaMalloc(&dA, hA.size() * sizeof(__half)));
  CK(cudaMalloc(&dB, hB.size() * sizeof(__half)));
  CK(cudaMalloc(&dC, C.size() * sizeof(float)));
  CK(cudaMemcpy(dA, hA.data(), hA.size() * sizeof(__half), cudaMemcpyHostToDevice));
  CK(cudaMemcpy(dB, hB.data(), hB.size() * sizeof(__half), cudaMemcpyHostToDevice));
  auto cuda = [&] {
    wmma_gemm<<<dim3(n / 64, n / 16), 128>>>(dA, dB, dC, n);
    CK(cudaDeviceSynchronize());
  };
  auto cpp = [&] { matmul_cpp(A.data(), B.data(), ref.data(), n); };
  compare("wmma_gemm", 4, cuda, cpp);
  CK(cudaMemcpy(C.data(), dC, C.size() * sizeof(float), cudaMemcpyDeviceToHost));
  check("wmma_gemm", C.data(), ref.data(), C.size(), 1e-4f);
  return 0;
}

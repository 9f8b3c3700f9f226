// Per-thread local arrays indexed with run-time values (forces local memory),
// including a per-thread insertion sort and a small lookup table.
#include "check.h"
#include <algorithm>
#include <vector>

__global__ void local_sort(const int *in, int *out, const int *perm, int n) {
  int t = blockIdx.x * blockDim.x + threadIdx.x;
  if (t >= n)
    return;
  int a[24];
  for (int i = 0; i < 24; ++i)
    a[i] = in[t * 24 + i];
  for (int i = 1; i < 24; ++i) { // insertion sort with data-dependent indices
    int v = a[i], j = i - 1;
    while (j >= 0 && a[j] > v) {
      a[j + 1] = a[j];
      --j;
    }
    a[j + 1] = v;
  }
  int b[24];
  for (int i = 0; i < 24; ++i)
    b[perm[(i + t) % 24]] = a[i]; // scatter through a run-time permutation
  int sum = 0;
  for (int i = 0; i < 24; ++i)
    sum += b[i] * (i + 1);
  out[t] = sum;
}

int main() {
  const int n = 1000;
  std::vector<int> in(n * 24), out(n), perm(24);
  for (int i = 0; i < 24; ++i)
    perm[i] = (i * 5) % 24; // 5 is coprime with 24
  unsigned s = 7;
  for (auto &v : in) {
    s = s * 1103515245u + 12345u;
    v = (int)((s >> 16) % 1000) - 500;
  }
  int *din, *dout, *dperm;
  CHECK(cudaMalloc(&din, in.size() * sizeof(int)));
  CHECK(cudaMalloc(&dout, n * sizeof(int)));
  CHECK(cudaMalloc(&dperm, 24 * sizeof(int)));
  CHECK(cudaMemcpy(din, in.data(), in.size() * sizeof(int), cudaMemcpyHostToDevice));
  CHECK(cudaMemcpy(dperm, perm.data(), 24 * sizeof(int), cudaMemcpyHostToDevice));
  local_sort<<<(n + 63) / 64, 64>>>(din, dout, dperm, n);
  CHECK_LAUNCH();
  CHECK(cudaMemcpy(out.data(), dout, n * sizeof(int), cudaMemcpyDeviceToHost));
  for (int t = 0; t < n; ++t) {
    std::vector<int> a(in.begin() + t * 24, in.begin() + t * 24 + 24), b(24);
    std::sort(a.begin(), a.end());
    for (int i = 0; i < 24; ++i)
      b[perm[(i + t) % 24]] = a[i];
    int sum = 0;
    for (int i = 0; i < 24; ++i)
      sum += b[i] * (i + 1);
    EXPECT(out[t] == sum, "thread %d: %d, want %d", t, out[t], sum);
  }
  CHECK(cudaFree(din));
  CHECK(cudaFree(dout));
  CHECK(cudaFree(dperm));
  PASSED("local_arrays");
  return 0;
}

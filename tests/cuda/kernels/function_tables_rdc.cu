// Function tables across files (nvcc -rdc=true, with
// function_tables_rdc_lib.cu): a table defined in the other file, a table
// here holding the other file's functions, and objects with virtual
// functions built by the other file's kernel, called through here.
#include "check.h"
#include "function_tables_rdc.h"

__device__ op_t main_ops[2] = {lib_neg, lib_twice};

__global__ void apply(int *out, int which) {
  int g = blockIdx.x * blockDim.x + threadIdx.x;
  op_t f = which ? main_ops[g % 2] : lib_ops[g % 2];
  out[g] = f(g);
}

__global__ void steps(const Counter *slots, int *out, int n) {
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n)
    out[i] = slots[i].step();
}

int main() {
  const int blocks = 2, threads = 40, n = blocks * threads;
  int res[n];
  int *dRes;
  CHECK(cudaMalloc(&dRes, sizeof res));
  for (int which = 0; which < 2; ++which) {
    apply<<<blocks, threads>>>(dRes, which);
    CHECK_LAUNCH();
    CHECK(cudaMemcpy(res, dRes, sizeof res, cudaMemcpyDeviceToHost));
    for (int g = 0; g < n; ++g) {
      bool twice = (g % 2 == 0) != (which == 1);
      int want = twice ? 2 * g + g % threads : -g + (g / threads) * 100;
      EXPECT(res[g] == want, "table %d thread %d: %d, want %d", which, g, res[g], want);
    }
  }
  op_t a[2], b[2];
  CHECK(cudaMemcpyFromSymbol(a, lib_ops, sizeof a));
  CHECK(cudaMemcpyFromSymbol(b, main_ops, sizeof b));
  EXPECT(a[0] && a[1] && a[0] == b[1] && a[1] == b[0], "the two tables disagree: %p %p / %p %p", (void *)a[0],
         (void *)a[1], (void *)b[0], (void *)b[1]);

  Counter *dSlots;
  CHECK(cudaMalloc(&dSlots, n * sizeof(Counter)));
  lib_make<<<blocks, threads>>>(dSlots, n);
  CHECK_LAUNCH();
  steps<<<blocks, threads>>>(dSlots, dRes, n);
  CHECK_LAUNCH();
  CHECK(cudaMemcpy(res, dRes, sizeof res, cudaMemcpyDeviceToHost));
  for (int i = 0; i < n; ++i) {
    int want = i % 2 ? 2 * i : i + 1;
    EXPECT(res[i] == want, "object %d: step %d, want %d", i, res[i], want);
  }
  CHECK(cudaFree(dSlots));
  CHECK(cudaFree(dRes));
  PASSED("function_tables_rdc");
  return 0;
}

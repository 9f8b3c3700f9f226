// function_tables_rdc (nvcc -rdc=true): the functions, a table of them and
// a class with virtual functions, defined in this file and used from
// function_tables_rdc.cu.
#include "function_tables_rdc.h"

__device__ int lib_twice(int v) { return 2 * v + int(threadIdx.x); }
__device__ int lib_neg(int v) { return -v + int(blockIdx.x) * 100; }
__device__ op_t lib_ops[2] = {lib_twice, lib_neg};

__device__ int Counter::step() const { return base + 1; }
__device__ int Doubler::step() const { return base * 2; }

__global__ void lib_make(Counter *slots, int n) {
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) {
    if (i % 2)
      new (&slots[i]) Doubler(i);
    else
      new (&slots[i]) Counter(i);
  }
}

// Declarations shared by function_tables_rdc.cu and function_tables_rdc_lib.cu.
#pragma once
#include <new>

typedef int (*op_t)(int);
__device__ int lib_twice(int v);
__device__ int lib_neg(int v);
extern __device__ op_t lib_ops[2];

struct Counter {
  int base;
  __device__ explicit Counter(int b) : base(b) {}
  __device__ virtual int step() const;
};
struct Doubler : Counter {
  __device__ explicit Doubler(int b) : Counter(b) {}
  __device__ int step() const override;
};
__global__ void lib_make(Counter *slots, int n);

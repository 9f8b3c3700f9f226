// The other half of rdc_main.cu (nvcc -rdc=true): a device function, a
// device variable and a kernel that rdc_main.cu uses across translation units.
#include "rdc_lib.h"

__device__ int rdc_bias = 7;

__device__ float rdc_scale(float x, int i) { return x * 2.0f + static_cast<float>(i % 5) + rdc_bias; }

__global__ void rdc_set_bias(int bias) { rdc_bias = bias; }

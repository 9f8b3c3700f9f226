// Declarations shared by rdc_main.cu and rdc_lib.cu (separate compilation).
#pragma once

extern __device__ int rdc_bias;
__device__ float rdc_scale(float x, int i);
__global__ void rdc_set_bias(int bias);

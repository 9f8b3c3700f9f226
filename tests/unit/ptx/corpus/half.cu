// Half and bfloat16 arithmetic and conversions.
#include <cuda_bf16.h>
#include <cuda_fp16.h>
__global__ void halfMath(const __half *a, const __half *b, __half *c, __half2 *h2, float *f, int n) {
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= n) return;
  __half x = a[i], y = b[i];
  __half r = __hfma(x, y, __float2half(1.0f));
  r = __hadd(r, __hmul(x, __hsub(y, x)));
  if (__hlt(r, x)) r = __hneg(r);
  r = __hdiv(r, __float2half_rz(3.0f));
  c[i] = r;
  __half2 p = __halves2half2(x, y);
  __half2 q = __hfma2(p, p, h2[i]);
  q = __hmul2(q, __float2half2_rn(0.5f));
  h2[i] = __hadd2(q, __hneg2(p));
  f[i] = __half2float(r) + __low2float(q) + __high2float(q) + (float)__half2int_rn(x) + __half2float(hsqrt(x));
  f[i] += __half2float(__int2half_rn(i)) + __half2float(__ushort2half_rd(7));
}
__global__ void bf16Math(const __nv_bfloat16 *a, __nv_bfloat16 *b, __nv_bfloat162 *b2, float *f) {
  int i = threadIdx.x;
  __nv_bfloat16 x = a[i];
  __nv_bfloat16 y = x * x + __float2bfloat16(2.0f);
  y = y > x ? y : x;
  b[i] = y * __float2bfloat16_rn(0.25f);
  __nv_bfloat162 v = __halves2bfloat162(x, y);
  b2[i] = b2[i] + v;
  f[i] = __bfloat162float(y) + __low2float(v) + (float)__bfloat162int_rz(x);
}
__global__ void convert(const double *d, __half *h, __nv_bfloat16 *bf) {
  int i = threadIdx.x;
  h[i] = __double2half(d[i]);
  bf[i] = __double2bfloat16(d[i]);
}

// libdevice-style math in float and double, fast intrinsics, rounding.
__global__ void fmath(const float *x, float *y, int n) {
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= n) return;
  float v = x[i];
  y[i] = sinf(v) + cosf(v) + tanf(v) + expf(v) + logf(fabsf(v) + 1) + powf(fabsf(v), 1.5f) + sqrtf(fabsf(v)) +
         rsqrtf(fabsf(v) + 1) + erff(v) + atan2f(v, 2.f) + fmodf(v, 3.f) + cbrtf(v) + tanhf(v) + log2f(fabsf(v) + 2) +
         exp2f(v) + floorf(v) + ceilf(v) + truncf(v) + roundf(v) + rintf(v) + fminf(v, 1.f) + fmaxf(v, -1.f) +
         copysignf(2.f, v) + __sinf(v) + __cosf(v) + __expf(v) + __logf(fabsf(v) + 1) + __fdividef(v, 3.f) +
         __saturatef(v) + __frcp_rn(v) + __fsqrt_rz(fabsf(v)) + __fadd_rd(v, 1.f) + __fmul_ru(v, 3.f) + __fmaf_rz(v, v, 1.f) +
         (float)__float2int_rd(v) + (float)__float2uint_ru(fabsf(v)) + (float)__float2ll_rz(v) + __int_as_float(__float_as_int(v) & 0x7fffffff) +
         (isnan(v) ? 1.f : 0.f) + (isinf(v) ? 2.f : 0.f) + (signbit(v) ? 4.f : 0.f);
}
__global__ void dmath(const double *x, double *y, long long *z, int n) {
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= n) return;
  double v = x[i];
  y[i] = sin(v) + cos(v) + exp(v) + log(fabs(v) + 1) + pow(fabs(v), 0.3) + sqrt(fabs(v)) + rsqrt(fabs(v) + 1) + fma(v, v, 1.0) +
         floor(v) + ceil(v) + trunc(v) + round(v) + fmin(v, 2.0) + fmax(v, 3.0) + __drcp_rn(v) + __dadd_rz(v, 1.0) +
         (double)(float)v + __longlong_as_double(__double_as_longlong(v) ^ (1ll << 63)) + hypot(v, 2.0) + log1p(fabs(v));
  z[i] = __double2ll_rn(v) + (long long)__double2uint_rz(fabs(v)) + llrint(v) + (long long)(unsigned long long)v +
         (long long)((double)z[i] / 3.0) + z[i] / (i + 1) + z[i] % (i + 3) + (long long)((unsigned long long)z[i] / (unsigned)(i + 5));
}

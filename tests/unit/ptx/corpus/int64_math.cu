// 64-bit and mixed-width integer arithmetic, conversions between every width.
__global__ void wide(const long long *a, unsigned long long *b, signed char *c, unsigned short *d, float *f, double *g, int n) {
  int i = threadIdx.x;
  long long x = a[i];
  unsigned long long y = b[i];
  b[i] = y / (unsigned long long)(i + 1) + y % 7 + (unsigned long long)(x * x) + (y >> 13) + (y << (i & 63));
  c[i] = (signed char)(x + c[i]);
  d[i] = (unsigned short)(d[i] * 3 + y);
  f[i] = (float)x + (float)y + (float)c[i] + (float)d[i];
  g[i] = (double)x + (double)y + (double)(unsigned)i;
  long long q = (long long)g[i] + (long long)f[i] + (unsigned long long)f[i];
  bool lt = x < (long long)y;
  b[i + n] = q + lt + (x > 0 ? 1 : -1) + (unsigned)(x >> 32) + (short)x + (unsigned char)y;
  for (int k = 0; k < n; ++k)
    if (a[k] == x) { b[i + 2 * n] = k; break; }
}

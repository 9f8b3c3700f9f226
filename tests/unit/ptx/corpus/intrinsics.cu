// Integer intrinsics: bit manipulation, funnel shifts, byte permutes, SIMD.
__global__ void bits(const unsigned *in, unsigned *out, unsigned long long *out64, int *s) {
  unsigned a = in[threadIdx.x], b = in[threadIdx.x + 32], c = in[threadIdx.x + 64];
  unsigned long long w = ((unsigned long long)a << 32) | b;
  out[threadIdx.x] = __popc(a) + __clz(b) + __ffs(c) + __brev(a) + __byte_perm(a, b, 0x3210 + c % 7) +
                     __funnelshift_l(a, b, c) + __funnelshift_r(a, b, c) + __funnelshift_lc(a, b, c) +
                     __funnelshift_rc(a, b, c) + __umulhi(a, b) + __mul24(a, b) + __umul24(a, c) + __sad(a, b, c) +
                     __usad(a, b, c) + __vadd2(a, b) + __vsub4(a, c) + __vabsdiffu4(a, b) + __vmaxs2(a, b) +
                     __vcmpeq4(a, c) + __fns(a, c & 31, 1) + __dp4a((int)a, (int)b, (int)c) + __dp2a_lo(a, b, c) +
                     __hadd(a, b) + __rhadd(a, c) + __uhadd(a, b) + (a > b ? a - b : b - a) + __popcll(w) + __clzll(w) + __ffsll(w);
  out64[threadIdx.x] = __brevll(w) + __umul64hi(w, a) + __mul64hi((long long)w, -3) + w * c + (w >> (c & 63)) + ((long long)w >> 7);
  int x = s[threadIdx.x];
  s[threadIdx.x] = abs(x) + min(x, 3) + max(x, -3) + __mulhi(x, 77) + x / 7 + x % 5 + (x >> 3) + (int)((unsigned)x >> 3) + __sad(x, -x, 3u);
}

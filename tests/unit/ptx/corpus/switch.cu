// Dense switches (brx.idx jump tables) and goto-heavy control flow.
__device__ __noinline__ int classify(int op, int a, int b) {
  switch (op) {
  case 0: return a + b;
  case 1: return a - b;
  case 2: return a * b;
  case 3: return b ? a / b : 0;
  case 4: return b ? a % b : 0;
  case 5: return a << (b & 31);
  case 6: return a >> (b & 31);
  case 7: return a & b;
  case 8: return a | b;
  case 9: return a ^ b;
  case 10: return ~a;
  case 11: return -a;
  case 12: return a < b;
  case 13: return a > b ? a : b;
  default: return 0;
  }
}
__global__ void interp(const int *ops, int *out, int n) {
  int acc = threadIdx.x;
  for (int i = 0; i < n; ++i) acc = classify(ops[i], acc, i + 3);
  out[threadIdx.x] = acc;
}
__global__ void dense(const int *in, float *out) {
  float v;
  switch (in[threadIdx.x] & 15) {
  case 0: v = 1.f; break; case 1: v = 2.5f; break; case 2: v = -3.f; break; case 3: v = 7.f; break;
  case 4: v = 0.1f; break; case 5: v = 11.f; break; case 6: v = 13.f; break; case 7: v = 17.f; break;
  case 8: v = out[0]; break; case 9: v = out[1] * 2; break; case 10: v = out[2] + 1; break;
  default: v = in[0] * 0.5f;
  }
  out[threadIdx.x + 16] = v;
}
